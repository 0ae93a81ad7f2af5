//! # asyncio for Rust
//!
//! Python's asyncio model — an event loop, eager tasks, sleeping, and above all `gather` — with
//! asyncio's observable semantics and Rust's types.
//!
//! ```
//! use asyncio::{gather, run, sleep, spawn, TaskError};
//! use std::time::Duration;
//!
//! async fn square(n: u64) -> u64 {
//!     sleep(Duration::from_millis(1)).await;
//!     n * n
//! }
//!
//! let out = run(async {
//!     let task = spawn(square(3));                     // asyncio.create_task
//!     let inner = gather([square(10), square(11)]);    // asyncio.gather(...)
//!     asyncio::gather!(task, inner, square(2)).await   // nested: plain values come back
//! });
//! assert_eq!(out, Ok((9, vec![100, 121], 4)));
//! # let _: Option<TaskError> = None;
//! ```
//!
//! | asyncio | this crate |
//! |---|---|
//! | `asyncio.run(main())` | [`run`]`(main())` |
//! | `loop = asyncio.new_event_loop()`, `loop.run_until_complete(f)`, `loop.time()` | [`EventLoop::new`], [`EventLoop::run_until_complete`], [`EventLoop::time`], [`now`] |
//! | a test loop with a fake clock (`test.support`'s `TestLoop`) | [`EventLoop::with_virtual_time`]: idle time jumps to the next deadline |
//! | `asyncio.create_task(coro)` | [`spawn`]`(fut)` → [`Task<T>`] |
//! | `await task` | `task.await` or `(&mut task).await` → `Result<T, TaskError>` |
//! | `task.cancel()`, `.done()`, `.cancelled()` | [`Task::cancel`], [`Task::is_done`], [`Task::is_cancelled`] |
//! | `task.add_done_callback(cb)`, `get_name`/`set_name` | [`Task::add_done_callback`], [`Task::name`], [`Task::set_name`] |
//! | `asyncio.sleep(s)`, `asyncio.sleep(0)` | [`sleep`]`(Duration)`, [`yield_now`]`()`; also [`sleep_until`] |
//! | `asyncio.gather(*aws)` | [`gather`](fn@gather)`(iter)` → `Vec`, [`gather!`](macro@gather)`(a, b, ..)` → tuple |
//! | `gather(..., return_exceptions=True)` | `gather(..).`[`return_exceptions`](Gather::return_exceptions)`()` |
//! | a gather with a semaphore around each child | [`gather_limited`]`(n, iter)`, [`try_gather_limited`]: at most `n` at once, lazily, results in order |
//! | children that raise | [`try_gather`](fn@try_gather) / [`try_gather!`](macro@try_gather): children return `Result<T, E>` |
//! | `CancelledError`, an exception | [`TaskError::Cancelled`], [`TaskError::Panicked`], [`TaskError::Failed`] |
//! | `asyncio.shield(t)` | [`shield`]`(task)` |
//! | `async with asyncio.TaskGroup() as tg:`, `tg.create_task(coro)` | [`task_group`]`(\|tg\| async move { tg.`[`spawn`](TaskGroup::spawn)`(fut); .. })` → `Result<R, `[`TaskGroupError`]`>` |
//! | `ExceptionGroup` of a task group | [`TaskGroupError::errors`]: every failure, in order |
//! | `asyncio.wait(aws, timeout=, return_when=)` | [`wait`]`(tasks, `[`ReturnWhen`]`::FirstCompleted, Some(d))` → `(done, pending)` |
//! | `asyncio.as_completed(aws)` | [`as_completed`]`(children)`: [`AsCompleted::next`] or a `Stream` |
//! | `async with asyncio.timeout(d)`, `asyncio.timeout_at(when)`, `wait_for(aw, d)`, `TimeoutError` | [`timeout`]`(d, fut)`, [`timeout_at`], [`wait_for`]`(fut, d)` → `Result<T, `[`Elapsed`]`>` |
//! | `async with asyncio.timeout(None) as cm: cm.reschedule(when)`, `cm.when()`, `cm.expired()` | [`timeout_scope`]`(None, \|cm\| body)`, [`TimeoutHandle::reschedule`], [`TimeoutHandle::when`], [`TimeoutHandle::expired`] |
//! | `loop.call_soon(f)`, `loop.set_exception_handler(h)` | [`call_soon`], [`EventLoop::set_exception_handler`] |
//! | `asyncio.open_connection(host, port)`, `asyncio.start_server(cb, host, port)` | [`open_connection`], [`start_server`] → [`Server`] (also [`open_unix_connection`], [`start_unix_server`]) |
//! | `StreamReader.read/readline/readexactly/readuntil`, `StreamWriter.write/drain/close/wait_closed` | [`StreamReader`], [`StreamWriter`] |
//! | `IncompleteReadError`, `LimitOverrunError` | [`StreamError::IncompleteRead`], [`StreamError::LimitOverrun`] |
//! | `loop.sock_*`, transports on sockets | [`net::TcpListener`], [`net::TcpStream`], [`net::UdpSocket`], [`net::UnixListener`], [`net::UnixStream`] (futures-io `AsyncRead`/`AsyncWrite`) |
//! | `asyncio.to_thread(f)`, `loop.run_in_executor(pool, f)` | [`to_thread`]`(f)`, [`BlockingPool::run`] (bounded pool) |
//! | `asyncio.create_subprocess_exec(prog, *args, stdin=PIPE, ...)`, `proc.communicate(input)`, `.wait()`, `.kill()`, `.terminate()`, `.send_signal(sig)` | [`create_subprocess_exec`] → [`Child`] ([`Child::communicate`], [`Child::wait`], [`Child::kill`], [`Child::terminate`], [`Child::send_signal`]`(signal::consts::SIGHUP)`; stdin/stdout/stderr are streams), [`process::spawn`]`(Command)` |
//! | `loop.add_signal_handler(sig, cb)`, `remove_signal_handler`, Ctrl-C in `asyncio.run` | [`signal::add_signal_handler`] → [`signal::SignalHandler`], [`signal::Signal`], [`signal::ctrl_c`]; [`run`] cancels main on Ctrl-C |
//! | `loop.call_soon_threadsafe(f)`, `asyncio.run_coroutine_threadsafe(coro, loop)` | [`LoopHandle::call_soon_threadsafe`], [`LoopHandle::run_coroutine_threadsafe`] → [`ConcurrentFuture`] (`.wait()` or `.await`) |
//! | `asyncio.current_task()`, `asyncio.all_tasks()` | [`current_task`], [`all_tasks`] → [`TaskInfo`] snapshots |
//! | (no asyncio equivalent: `python -X dev` + `faulthandler`) | [`dump_tasks`], [`EventLoop::dump`]: every live task with name, state and spawn location |
//! | `asyncio.Lock()`, `async with lock` | [`Lock`]: `let _guard = lock.acquire().await` |
//! | `asyncio.Event()`, `Condition()`, `Semaphore(n)`, `BoundedSemaphore(n)`, `Barrier(n)` | [`Event`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`], [`Barrier`] |
//! | `asyncio.Queue(maxsize)`, `LifoQueue`, `PriorityQueue` | [`Queue`], [`LifoQueue`], [`PriorityQueue`] (see [`sync`] for the errors) |
//!
//! The rules this crate keeps (L1–L6, T1–T6, G1–G14, SH1, TG1–TG3, TO1–TO3, W1, S1–S2) are listed in the
//! README.

#![warn(missing_docs)]

mod blocking;
mod error;
mod gather;
pub mod net;
#[cfg(unix)]
pub mod process;
mod runtime;
#[cfg(unix)]
pub mod signal;
pub mod streams;
pub mod sync;
mod task;
mod task_group;
mod time;
mod timeout;
mod wait;

pub use blocking::{to_thread, BlockingPool, ToThread};
pub use error::{Elapsed, Panic, TaskError};
pub use gather::bounded::{gather_limited, try_gather_limited};
pub use gather::{gather, try_gather, Gather, GatherFuture, IntoChild};
#[cfg(unix)]
pub use process::{create_subprocess_exec, Child};
pub use runtime::introspect::{all_tasks, current_task, dump_tasks, TaskInfo, TaskState};
pub use runtime::{call_soon, now, run, EventLoop, ExceptionContext};
pub use runtime::{ConcurrentFuture, LoopClosed, LoopHandle};
pub use streams::{open_connection, start_server, Server, StreamError, StreamReader, StreamWriter};
#[cfg(unix)]
pub use streams::{open_unix_connection, start_unix_server};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, PriorityQueue, Queue, Semaphore,
};
pub use task::{shield, spawn, Join, Shield, ShieldFuture, Task};
pub use task_group::{task_group, SpawnRefused, TaskGroup, TaskGroupError, TaskGroupFuture};
pub use time::{sleep, sleep_until, yield_now, Sleep, YieldNow};
pub use timeout::{timeout, timeout_at, timeout_scope, wait_for, Timeout, TimeoutHandle};
pub use wait::{as_completed, try_as_completed, wait, AsCompleted, ReturnWhen, Wait};

/// Implementation details the macros and trait bounds need; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::gather::tuple::{gather_tuple, TupleChildren};
    pub use crate::gather::{
        Child, FallibleTask, GatherOutput, IntoChild, Mode, Node, Plain, ShieldChild, Try,
    };
    pub use crate::runtime::Listener;
    pub use crate::task::RawTask;
}

/// Gathers differently typed children into a tuple: `asyncio.gather(a, b, c)`.
///
/// Each argument is anything [`gather`](fn@gather) accepts (a future, a [`Task`], a [`Shield`], a
/// [`Gather`]); the output is `Result<(A, B, ..), TaskError>`, in argument order. Up to 12
/// children.
///
/// # Examples
///
/// ```
/// use asyncio::{gather, run, spawn};
///
/// run(async {
///     let group = gather([100, 1000].map(|n| async move { n }));
///     let out = asyncio::gather!(group, async { 400 }, spawn(async { "nine hundred" })).await;
///     assert_eq!(out, Ok((vec![100, 1000], 400, "nine hundred")));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($child:expr),+ $(,)?) => {
        $crate::__private::gather_tuple((
            $($crate::__private::IntoChild::<$crate::__private::Plain>::into_child($child),)+
        ))
    };
}

/// Gathers differently typed children returning `Result<T, E>` (one `E` for all) into a tuple:
/// `Err(e)` is a failure, reported as [`TaskError::Failed`]. Up to 12 children.
///
/// # Examples
///
/// ```
/// use asyncio::{run, TaskError};
///
/// async fn parse(s: &str) -> Result<i32, std::num::ParseIntError> { s.parse() }
///
/// run(async {
///     assert_eq!(asyncio::try_gather!(parse("1"), parse("2")).await, Ok((1, 2)));
///     let err = asyncio::try_gather!(parse("1"), parse("two")).await.unwrap_err();
///     assert!(matches!(err, TaskError::Failed(_)));
/// });
/// ```
#[macro_export]
macro_rules! try_gather {
    ($($child:expr),+ $(,)?) => {
        $crate::__private::gather_tuple((
            $($crate::__private::IntoChild::<$crate::__private::Try<_>>::into_child($child),)+
        ))
    };
}
