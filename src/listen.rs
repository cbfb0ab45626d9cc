//! The one way ripple listens for HTTP: the REST API and every SSE reaction bind through
//! [`bind`] and serve through [`serve`], so every accepted connection has `TCP_NODELAY` set.
//!
//! Why: an SSE event, or a small REST answer, is one short write. With Nagle's algorithm on,
//! a short write waits while an earlier one is unacknowledged, and a client that only reads
//! delays its ACK (by 40 ms or more on Linux): at 1 000 updates/s the commit→SSE p99 was
//! ~40 ms. hyper already gathers each response, or each event with its chunk framing, into
//! one write, so Nagle has nothing to coalesce.
//!
//! `clippy.toml` disallows `axum::serve` and tokio's `TcpListener::bind` everywhere else, so
//! a new listener cannot skip this module.
//!
//! The other sockets ripple holds are opened by libraries that already set it: the cluster
//! connections (timely_communication, on both ends) and the PostgreSQL connections (see
//! `sources::postgres::connect`).

use std::net::SocketAddr;

use axum::serve::Serve;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};

/// A bound socket whose accepted connections have `TCP_NODELAY` set (only [`bind`] makes one).
#[derive(Debug)]
pub struct Listener(TcpListener);

/// Binds `address` (`host:port`).
pub async fn bind(address: &str) -> std::io::Result<Listener> {
    #[allow(clippy::disallowed_methods)] // this is the one place that binds
    let listener = TcpListener::bind(address).await?;
    Ok(Listener(listener))
}

/// Serves `router` on `listener`, as `axum::serve` does.
pub fn serve(listener: Listener, router: Router) -> Serve<Listener, Router, Router> {
    #[allow(clippy::disallowed_methods)] // this is the one place that serves
    axum::serve(listener, router)
}

impl axum::serve::Listener for Listener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        // axum's own accept for a `TcpListener`, which retries or waits out accept errors.
        let (stream, peer) = axum::serve::Listener::accept(&mut self.0).await;
        if let Err(error) = stream.set_nodelay(true) {
            // The connection still works, only with Nagle's delays; it is usually one the
            // peer has already reset.
            tracing::debug!(message = "Cannot set TCP_NODELAY on an accepted connection.", %error, %peer);
        }
        (stream, peer)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener as _;

    #[tokio::test]
    async fn accepted_connections_have_nodelay() {
        let mut listener = super::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let client = tokio::net::TcpStream::connect(address).await.expect("connect");
        let (accepted, peer) = listener.accept().await;
        assert_eq!(peer, client.local_addr().expect("client address"));
        assert!(accepted.nodelay().expect("TCP_NODELAY"));
    }
}
