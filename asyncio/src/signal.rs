//! Unix signals on the loop: [`Signal`], [`ctrl_c`], [`add_signal_handler`], and `run`'s Ctrl-C.
//!
//! # How a signal reaches a task
//! Each [`Signal`] owns a socket pair. signal-hook's handler (async-signal-safe, installed once per
//! signal for the whole process) writes a byte to the write end at every delivery; the read end is
//! registered with the loop's reactor, so a delivery ends the loop's wait like any readiness, and
//! the waiting task runs on the next turn. Deliveries that arrive before anyone reads are
//! coalesced into one, as the kernel coalesces pending signals.
//!
//! # Restoring the default action
//! signal-hook never uninstalls its handler: once the last action of a signal is removed, the
//! signal would be *ignored*. So with the first listener of a signal we also register
//! signal-hook's "conditional default" action, switched on whenever no [`Signal`] of ours listens:
//! after the last one is dropped, Ctrl-C terminates the program again. (Not done for `SIGPIPE`,
//! which Rust programs ignore; a signal the parent set to "ignore", as `nohup` does for `SIGHUP`,
//! gets its default action back instead — a known limit.)
//!
//! # `run` and Ctrl-C
//! [`run`](crate::run) on the main thread listens for `SIGINT` while main runs, as `asyncio.run`
//! does: the first Ctrl-C cancels main (drops its future), the loop's clean-up cancels the
//! remaining tasks and lets their `Drop`s run, and then the process ends by `SIGINT`'s default
//! action, so the shell sees the usual "interrupted" status (130). A second Ctrl-C during the
//! clean-up ends the process at once.

use std::collections::HashMap;
use std::fmt;
use std::future::{pending, poll_fn, Future, IntoFuture};
use std::io::{self, Read};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;

use signal_hook::consts::signal::{SIGINT, SIGPIPE};
use signal_hook::SigId;

use crate::runtime::reactor::{Direction, Source};
use crate::runtime::EventLoop;
use crate::task::{spawn, Task};

/// Signal numbers, for [`Signal::new`], [`add_signal_handler`] and
/// [`Child::send_signal`](crate::Child::send_signal) (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGUSR1`, ...).
///
/// # Examples
///
/// ```
/// assert_eq!(asyncio::signal::consts::SIGINT, 2);
/// ```
pub mod consts {
    pub use signal_hook::consts::signal::*;
}

/// A subscription to one Unix signal on the running loop: each [`recv`](Signal::recv) waits for
/// the next delivery.
///
/// Several `Signal`s (in one loop or in several) may listen to the same signal; each sees every
/// delivery. Dropping the last one gives the signal its default action back.
///
/// # Examples
///
/// ```
/// use asyncio::signal::{consts::SIGUSR1, Signal};
///
/// asyncio::run(async {
///     let usr1 = Signal::new(SIGUSR1).unwrap();
///     asyncio::signal::raise(SIGUSR1).unwrap(); // as `kill -USR1 <pid>` would
///     usr1.recv().await.unwrap();
/// });
/// ```
pub struct Signal {
    signal: i32,
    id: SigId,
    source: Source<mio::net::UnixStream>,
}

impl Signal {
    /// Starts listening for `signal` on the running loop.
    ///
    /// # Errors
    /// `InvalidInput` for a signal that cannot be caught (`SIGKILL`, `SIGSTOP`) or that signals a
    /// fault (`SIGSEGV`, `SIGILL`, `SIGFPE`), or an unknown number; others as the system reports
    /// them.
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let err = asyncio::signal::Signal::new(asyncio::signal::consts::SIGKILL).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// });
    /// ```
    pub fn new(signal: i32) -> io::Result<Signal> {
        if signal_hook::consts::FORBIDDEN.contains(&signal) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "signal {} cannot be handled: SIGKILL and SIGSTOP cannot be caught, and \
                     SIGSEGV, SIGILL and SIGFPE mean the program is broken",
                    name(signal)
                ),
            ));
        }
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        let source = Source::new(mio::net::UnixStream::from_std(read), "Signal::new()")?;
        listen(signal)?;
        let id = match signal_hook::low_level::pipe::register(signal, write) {
            Ok(id) => id,
            Err(e) => {
                unlisten(signal);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot listen for signal {}: {e}", name(signal)),
                ));
            }
        };
        Ok(Signal { signal, id, source })
    }

    /// The signal's number.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::signal::{consts::SIGUSR2, Signal};
    /// asyncio::run(async { assert_eq!(Signal::new(SIGUSR2).unwrap().number(), SIGUSR2) });
    /// ```
    pub fn number(&self) -> i32 {
        self.signal
    }

    /// Waits for the next delivery (deliveries since the last `recv` count as one).
    ///
    /// # Errors
    /// Only if the loop's I/O fails (e.g. the `Signal` is used on another loop).
    ///
    /// # Examples
    ///
    /// See [`Signal`].
    pub async fn recv(&self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        poll_fn(|cx| {
            self.source
                .poll_io(cx, Direction::Read, |mut s| match s.read(&mut buf)? {
                    // The write end is only closed when we unregister: treat as "nothing yet".
                    0 => Err(io::ErrorKind::WouldBlock.into()),
                    _ => Ok(()),
                })
        })
        .await?;
        // Drain what else arrived: those deliveries are coalesced into this one.
        let mut s = self.source.get_ref();
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        Ok(())
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
        unlisten(self.signal);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Signal").field(&name(self.signal)).finish()
    }
}

pub(crate) fn name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal).map_or_else(|| signal.to_string(), str::to_owned)
}

/// Per signal: the "run the default action" switch and how many `Signal`s listen.
type Listeners = Mutex<HashMap<i32, (Arc<AtomicBool>, usize)>>;

fn listeners() -> &'static Listeners {
    static LISTENERS: OnceLock<Listeners> = OnceLock::new();
    LISTENERS.get_or_init(Default::default)
}

fn listen(signal: i32) -> io::Result<()> {
    let mut map = listeners().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((default_on, n)) = map.get_mut(&signal) {
        *n += 1;
        default_on.store(false, Ordering::SeqCst);
        return Ok(());
    }
    let default_on = Arc::new(AtomicBool::new(false));
    if signal != SIGPIPE {
        signal_hook::flag::register_conditional_default(signal, default_on.clone()).map_err(
            |e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot listen for signal {}: {e}", name(signal)),
                )
            },
        )?;
    }
    map.insert(signal, (default_on, 1));
    Ok(())
}

fn unlisten(signal: i32) {
    let mut map = listeners().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((default_on, n)) = map.get_mut(&signal) {
        *n -= 1;
        if *n == 0 {
            default_on.store(true, Ordering::SeqCst);
        }
    }
}

/// Waits for Ctrl-C (`SIGINT`) on the running loop.
///
/// While it waits, Ctrl-C does not end the program; afterwards (and once nothing else listens)
/// it does again.
///
/// # Errors
/// As [`Signal::new`].
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// // (`EventLoop` rather than `run`: on the main thread, `run` itself would take the Ctrl-C.)
/// asyncio::EventLoop::new().run_until_complete(async {
///     let waiting = asyncio::spawn(asyncio::signal::ctrl_c());
///     asyncio::yield_now().await; // now listening
///     asyncio::signal::raise(asyncio::signal::consts::SIGINT).unwrap();
///     waiting.await.unwrap().unwrap();
/// });
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    Signal::new(SIGINT)?.recv().await
}

/// Calls `handler` on the loop at every delivery of `signal` (asyncio's
/// `loop.add_signal_handler(sig, callback)`), until the returned [`SignalHandler`] is dropped or
/// [`remove`](SignalHandler::remove)d (asyncio's `remove_signal_handler`).
///
/// # Errors
/// As [`Signal::new`].
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::signal::{add_signal_handler, consts::SIGUSR1};
/// use std::{cell::Cell, rc::Rc};
///
/// asyncio::run(async {
///     let hits = Rc::new(Cell::new(0));
///     let h = hits.clone();
///     let handler = add_signal_handler(SIGUSR1, move || h.set(h.get() + 1)).unwrap();
///     asyncio::signal::raise(SIGUSR1).unwrap();
///     while hits.get() == 0 {
///         asyncio::yield_now().await;
///     }
///     handler.remove();
/// });
/// ```
pub fn add_signal_handler(
    signal: i32,
    mut handler: impl FnMut() + 'static,
) -> io::Result<SignalHandler> {
    let listener = Signal::new(signal)?;
    let task = spawn(async move {
        while listener.recv().await.is_ok() {
            handler();
        }
    });
    Ok(SignalHandler { signal, task })
}

/// An installed [`add_signal_handler`]; dropping it removes the handler.
///
/// # Examples
///
/// See [`add_signal_handler`].
#[must_use = "dropping the SignalHandler removes the handler at once"]
pub struct SignalHandler {
    signal: i32,
    task: Task<()>,
}

impl SignalHandler {
    /// Removes the handler (asyncio's `loop.remove_signal_handler(sig)`); the same as dropping it.
    ///
    /// # Examples
    ///
    /// See [`add_signal_handler`].
    pub fn remove(self) {}
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.task.cancel();
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SignalHandler")
            .field(&name(self.signal))
            .finish()
    }
}

/// Sends `signal` to this process (to the calling thread), as `kill -<signal> <pid>` would reach
/// it: for tests of signal handling.
///
/// # Errors
/// `InvalidInput` for an unknown signal number.
///
/// # Examples
///
/// See [`Signal`].
pub fn raise(signal: i32) -> io::Result<()> {
    signal_hook::low_level::raise(signal)
}

/// True on the process's main thread (the one `main` runs on).
fn is_main_thread() -> bool {
    if cfg!(miri) {
        return false; // Miri runs the unsafe paths' tests without signals or /proc
    }
    // Linux: /proc/thread-self links to "<pid>/task/<tid>"; the main thread's tid is the pid.
    match std::fs::read_link("/proc/thread-self") {
        Ok(path) => path
            .file_name()
            .and_then(|tid| tid.to_str())
            .is_some_and(|tid| tid == std::process::id().to_string()),
        Err(_) => std::thread::current().name() == Some("main"),
    }
}

/// `run`'s body: on the main thread, main is raced against Ctrl-C (see the module docs).
pub(crate) fn run_main<F: IntoFuture>(future: F) -> F::Output {
    let lp = EventLoop::new();
    if !is_main_thread() {
        return lp.run_until_complete(future);
    }
    let outcome = lp.run_until_complete(async move {
        let interrupt = Signal::new(SIGINT).ok();
        let mut main = pin!(future.into_future());
        let mut ctrl_c = pin!(async {
            match &interrupt {
                Some(s) => {
                    let _ = s.recv().await;
                }
                None => pending::<()>().await,
            }
        });
        poll_fn(|cx| {
            if let Poll::Ready(v) = main.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            match ctrl_c.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
        // Here main's future is dropped (cancelled) if Ctrl-C came first, and the listener
        // is removed, so a second Ctrl-C during the clean-up ends the process.
    });
    match outcome {
        Some(v) => v,
        None => {
            drop(lp); // cancels the remaining tasks and runs their clean-up
            let _ = signal_hook::low_level::emulate_default_handler(SIGINT);
            std::process::exit(130) // only if the default action did not end the process
        }
    }
}
