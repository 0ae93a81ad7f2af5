//! Errors: how a task or a gather can fail.
//!
//! asyncio raises; Rust returns. A [`Task`](crate::Task) or [`Gather`](crate::Gather) resolves to
//! `Result<T, TaskError<E>>`, where [`TaskError`] says which of asyncio's three endings happened:
//! the child's own error (`Failed`, only for `try_gather` children that return `Result`), a panic
//! (`Panicked`, asyncio's "exception"), or a cancellation (`Cancelled`, asyncio's `CancelledError`).

use std::any::Any;
use std::convert::Infallible;
use std::error::Error;
use std::fmt;

/// Why a task or a gather did not produce its value.
///
/// `E` is the error type of children that return `Result<T, E>` (see
/// [`try_gather`](fn@crate::try_gather)); for plain tasks it is [`Infallible`], so only
/// [`Panicked`](TaskError::Panicked) and [`Cancelled`](TaskError::Cancelled) can occur.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, TaskError};
///
/// run(async {
///     let task = spawn(async { panic!("boom") });
///     match task.await {
///         Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "boom"),
///         other => unreachable!("{other:?}"),
///     }
///     let task = spawn(std::future::pending::<()>());
///     task.cancel();
///     assert!(matches!(task.await, Err(TaskError::Cancelled)));
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError<E = Infallible> {
    /// The child returned `Err(e)` (children of [`try_gather`](fn@crate::try_gather)).
    Failed(E),
    /// The child panicked; the panic was caught and the loop went on.
    Panicked(Panic),
    /// The task or gather was cancelled before it finished.
    Cancelled,
}

impl<E> TaskError<E> {
    /// True for [`TaskError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::TaskError;
    /// assert!(TaskError::<()>::Cancelled.is_cancelled());
    /// assert!(!TaskError::Failed(()).is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// True for [`TaskError::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::TaskError;
    /// assert!(!TaskError::<()>::Cancelled.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// Changes the `Failed` payload with `f`, keeping panics and cancellations as they are.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::TaskError;
    /// let e: TaskError<i32> = TaskError::Failed(2);
    /// assert_eq!(e.map_err(|n| n * 10), TaskError::Failed(20));
    /// ```
    pub fn map_err<F>(self, f: impl FnOnce(E) -> F) -> TaskError<F> {
        match self {
            TaskError::Failed(e) => TaskError::Failed(f(e)),
            TaskError::Panicked(p) => TaskError::Panicked(p),
            TaskError::Cancelled => TaskError::Cancelled,
        }
    }
}

impl TaskError<Infallible> {
    /// Widens a plain task's error to any `E`: a plain task can only panic or be cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::TaskError;
    /// let e: TaskError<std::io::Error> = TaskError::Cancelled.widen();
    /// assert!(e.is_cancelled());
    /// ```
    pub fn widen<E>(self) -> TaskError<E> {
        self.map_err(|never| match never {})
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(e) => write!(f, "task failed: {e}"),
            TaskError::Panicked(p) => write!(f, "task panicked: {}", p.message()),
            TaskError::Cancelled => f.write_str(
                "task was cancelled (cancel() was called on it, on a gather holding it, or its \
                 awaiter was dropped); use shield() to await without propagating cancellation",
            ),
        }
    }
}

impl<E: Error + 'static> Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TaskError::Failed(e) => Some(e),
            TaskError::Panicked(p) => Some(p),
            TaskError::Cancelled => None,
        }
    }
}

/// A panic caught inside a task, carrying its message.
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, TaskError};
///
/// let err = run(async { spawn(async { panic!("bad input: {}", 7) }).await }).unwrap_err();
/// let TaskError::Panicked(panic) = err else { unreachable!() };
/// assert_eq!(panic.message(), "bad input: 7");
/// assert_eq!(panic.to_string(), "panicked: bad input: 7");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Panic {
    /// A thin box, so that a `Panic`, and with it every `TaskError`, is one pointer wide (a
    /// `Box<str>` would be two); panics are rare, task outputs are not.
    #[allow(clippy::box_collection)]
    message: Box<String>,
}

impl Panic {
    /// Builds a `Panic` from the payload `catch_unwind` returned.
    pub(crate) fn from_payload(payload: Box<dyn Any + Send>) -> Panic {
        let message = match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(s) => (*s).to_owned(),
                Err(_) => "<panic payload that is not a string>".to_owned(),
            },
        };
        Panic {
            message: Box::new(message),
        }
    }

    /// The panic's message (`"<panic payload that is not a string>"` when the payload was
    /// neither a `String` nor a `&str`).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, TaskError};
    /// let r = run(async { spawn(async { std::panic::panic_any(5u8) }).await });
    /// let Err(TaskError::Panicked(p)) = r else { unreachable!() };
    /// assert_eq!(p.message(), "<panic payload that is not a string>");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Panic").field(&self.message).finish()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl Error for Panic {}

/// The error of a [`timeout`](crate::timeout) whose deadline passed first: asyncio's
/// `TimeoutError`. By the time it is returned, the future that was too slow has been cancelled
/// (dropped) and every task or gather it was awaiting has finished its cancellation.
///
/// # Examples
///
/// ```
/// use asyncio::{sleep, timeout, Elapsed, EventLoop};
/// use std::time::Duration;
///
/// let lp = EventLoop::with_virtual_time();
/// let out = lp.run_until_complete(timeout(Duration::from_secs(1), sleep(Duration::from_secs(5))));
/// assert_eq!(out, Err(Elapsed::new()));
/// assert_eq!(
///     out.unwrap_err().to_string(),
///     "deadline elapsed: the future did not complete in time and was cancelled"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Elapsed(());

impl Elapsed {
    /// An `Elapsed` (for comparisons in tests).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::Elapsed::new(), asyncio::Elapsed::default());
    /// ```
    pub fn new() -> Elapsed {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed: the future did not complete in time and was cancelled")
    }
}

impl Error for Elapsed {}
