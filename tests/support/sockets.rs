//! The server's end of a test's TCP connection, read in the ripple process that accepted it.
//!
//! Options such as `TCP_NODELAY` are state of the server's own socket, invisible from the
//! client's end. `pidfd_getfd` copies one of ripple's descriptors into the test (Linux lets a
//! parent do that to its child), so a test reads the option off the very socket ripple
//! writes to, without a hook in ripple.

use std::net::TcpStream;
use std::os::fd::RawFd;

use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};

/// Process `pid`'s end of `client`'s connection (a copy of its descriptor).
pub fn accepted_end(pid: u32, client: &TcpStream) -> TcpStream {
    let ours = client.local_addr().expect("client address");
    let theirs = client.peer_addr().expect("server address");
    let pid = Pid::from_raw(pid.try_into().expect("a pid")).expect("a pid");
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).expect("pidfd_open");
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the process's descriptors");
    for entry in entries.map_while(Result::ok) {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // The descriptor may have closed since it was listed; then it is not ours.
        let Ok(copy) = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()) else { continue };
        let socket = TcpStream::from(copy);
        if socket.local_addr().ok() == Some(theirs) && socket.peer_addr().ok() == Some(ours) {
            return socket;
        }
    }
    panic!("process {pid} holds no socket of the connection {ours} -> {theirs}");
}
