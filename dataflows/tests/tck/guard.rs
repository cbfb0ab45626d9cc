//! Keeps one bad scenario from taking the suite down: each runs on its own thread with a time
//! limit, and panics (in the harness or in engine worker threads) become failure reasons
//! instead of noise on stderr.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Panic messages captured since the last [`run`], from any thread.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A panic hook, as `std::panic::take_hook` returns it.
type Hook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// While alive, panics are recorded rather than printed. Dropping it restores the previous
/// hook, so that the gate's own assertion messages print normally.
pub struct QuietPanics {
    previous: Option<Hook>,
}

impl QuietPanics {
    pub fn install() -> QuietPanics {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(|info| {
            let thread = thread::current().name().unwrap_or("unnamed").to_string();
            PANICS.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{thread}: {info}"));
        }));
        QuietPanics { previous: Some(previous) }
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            panic::set_hook(previous);
        }
    }
}

/// Why a guarded run produced no value.
pub enum Stopped {
    /// It ran past the limit; its thread is abandoned.
    Timeout,
    /// It panicked; the captured panic messages.
    Panicked(String),
}

/// Runs `work` on a fresh thread, giving it a deadline a little before `limit` so that it can
/// report what it was waiting for; gives up at `limit`. Also returns any panic messages
/// recorded meanwhile (worker threads of the engine may panic without failing `work`).
pub fn run<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce(Instant) -> T + Send + 'static,
) -> (Result<T, Stopped>, Vec<String>) {
    drain();
    let start = Instant::now();
    let deadline = start + limit.mul_f64(0.9);
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new().name("tck-scenario".into()).spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(|| work(deadline)));
        let _ = tx.send(result);
    });
    let result = match spawned {
        Err(e) => Err(Stopped::Panicked(format!("could not spawn a thread: {e}"))),
        Ok(_) => match rx.recv_timeout(limit.saturating_sub(start.elapsed())) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(Stopped::Panicked(drain().join("; "))),
            Err(_) => Err(Stopped::Timeout),
        },
    };
    (result, drain())
}

fn drain() -> Vec<String> {
    std::mem::take(&mut *PANICS.lock().unwrap_or_else(|p| p.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_on_a_hung_scenario() {
        let (result, _) =
            run(Duration::from_millis(100), |_| thread::sleep(Duration::from_secs(2)));
        assert!(matches!(result, Err(Stopped::Timeout)));
        let (result, _) = run(Duration::from_secs(5), |deadline| deadline > Instant::now());
        assert!(matches!(result, Ok(true)));
    }
}
