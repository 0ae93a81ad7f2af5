//! smol, from its building blocks as smol's docs show: an `async_executor::LocalExecutor` run by
//! `async_io::block_on` (which also drives async-io's timers), `Task`s awaited in order,
//! `async_io::Timer` for sleeping and `futures_lite::future::yield_now` for yielding. Tasks
//! that spawn (`nested`, `chain`) hold the executor through an `Rc`.
//!
//! `echo` uses async-io's `Async<TcpListener>` / `Async<TcpStream>` (what `smol::net` wraps in an
//! `Arc`, and what smol's own examples use) with futures-lite's `AsyncReadExt` /
//! `AsyncWriteExt`; a detached task per accepted connection, the clients spawned, their `Task`s
//! awaited in order.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use async_executor::{LocalExecutor, Task};
use async_io::{Async, Timer};
use futures::stream::{FuturesUnordered, StreamExt as _};
use futures_lite::future::yield_now;
use futures_lite::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::measure::{Finish, Start};
use crate::workload::{self as w, Workload};

type Executor = Rc<LocalExecutor<'static>>;
type Boxed = Pin<Box<dyn Future<Output = u64>>>;

/// Runs `workload` with `n` children; the executor (and any task left in it) is dropped before
/// returning.
pub fn run(workload: Workload, n: u64) -> Finish {
    let ex: Executor = Rc::new(LocalExecutor::new());
    let finish = async_io::block_on(ex.run(body(ex.clone(), workload, n)));
    drop(ex);
    finish
}

async fn body(ex: Executor, workload: Workload, n: u64) -> Finish {
    match workload {
        Workload::Ready => in_order(&ex, workload, n, |i| async move { w::square(i) }).await,
        Workload::SpawnYield => {
            in_order(&ex, workload, n, |i| async move {
                yield_now().await;
                i
            })
            .await
        }
        Workload::Sleep => {
            in_order(&ex, workload, n, |i| async move {
                Timer::after(w::SLEEP).await;
                i
            })
            .await
        }
        Workload::SleepSpread => {
            in_order(&ex, workload, n, move |i| async move {
                Timer::after(w::spread(i, n)).await;
                i
            })
            .await
        }
        Workload::Staggered => {
            in_order(&ex, workload, n, move |i| async move {
                for _ in 0..w::yields(i, n) {
                    yield_now().await;
                }
                i
            })
            .await
        }
        Workload::Nested => {
            let start = Start::now();
            let total = node(ex.clone(), n).await;
            start.finish(Instant::now(), w::check_total(workload, n, total))
        }
        Workload::FailFast => fail_fast(&ex, n).await,
        Workload::Cancel => cancel(&ex, n).await,
        Workload::Chain => {
            let start = Start::now();
            let total = ex.spawn(link(ex.clone(), 1, n)).await;
            start.finish(Instant::now(), w::check_total(workload, n, total))
        }
        Workload::Echo => unreachable!("echo runs through smol::echo"),
    }
}

/// `echo`: the server and `conns` clients on one `LocalExecutor`, `n` messages in all; the
/// executor (with the server's tasks) is dropped before returning.
pub fn echo(n: u64, conns: u64) -> Finish {
    let ex: Executor = Rc::new(LocalExecutor::new());
    let finish = async_io::block_on(ex.run(echo_body(ex.clone(), n, conns)));
    drop(ex);
    finish
}

async fn echo_body(ex: Executor, n: u64, conns: u64) -> Finish {
    let listener = match Async::<TcpListener>::bind(([127, 0, 0, 1], 0)) {
        Ok(l) => l,
        Err(e) => return w::echo_setup_failed("binding 127.0.0.1:0", e),
    };
    let addr = match listener.get_ref().local_addr() {
        Ok(a) => a,
        Err(e) => return w::echo_setup_failed("the listener's address", e),
    };
    // The accept loop holds the executor to spawn on; it is cancelled (dropped) at the end, which
    // lets go of that `Rc`.
    let server = ex.spawn({
        let ex = ex.clone();
        async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.get_ref().set_nodelay(true);
                ex.spawn(echo_back(stream)).detach();
            }
        }
    });
    let mut streams = Vec::with_capacity(conns as usize);
    for _ in 0..conns {
        match Async::<TcpStream>::connect(addr).await {
            Ok(s) => {
                let _ = s.get_ref().set_nodelay(true);
                streams.push(s);
            }
            Err(e) => return w::echo_setup_failed("connecting to the server", e),
        }
    }
    let start = Start::now();
    let tasks: Vec<Task<w::ClientResult>> = (0u64..)
        .zip(streams)
        .map(|(c, s)| ex.spawn(client(c, w::messages_of(c, n, conns), s)))
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(task.await);
    }
    let done = Instant::now();
    let finish = w::echo_finish(start, done, n, conns, clients);
    drop(server);
    finish
}

/// The server's side of a connection: writes back whatever arrives until end of stream.
async fn echo_back(mut stream: Async<TcpStream>) {
    let mut buf = vec![0; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                if stream.write_all(&buf[..k]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One client: `messages` round trips, each reply read whole and checked.
async fn client(c: u64, messages: u64, mut stream: Async<TcpStream>) -> w::ClientResult {
    let mut times = Vec::with_capacity(messages as usize);
    let mut reply = [0u8; w::ECHO_MESSAGE];
    for i in 0..messages {
        let message = w::message(c, i);
        let sent = Instant::now();
        let io = |e: std::io::Error| format!("connection {c}, message {i}: {e}");
        stream.write_all(&message).await.map_err(io)?;
        stream.read_exact(&mut reply).await.map_err(io)?;
        times.push(sent.elapsed().as_nanos() as u64);
        if reply != message {
            return Err(w::wrong_reply(c, i, &reply));
        }
    }
    Ok(times)
}

/// Spawns `n` children made by `child`, awaits the tasks in order into a `Vec`.
async fn in_order<F, Fut>(ex: &Executor, workload: Workload, n: u64, child: F) -> Finish
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = u64> + 'static,
{
    let start = Start::now();
    let tasks: Vec<Task<u64>> = (0..n).map(child).map(|f| ex.spawn(f)).collect();
    let mut values = Vec::with_capacity(tasks.len());
    for task in tasks {
        values.push(task.await);
    }
    let done = Instant::now();
    let ok = w::check_values(workload, n, &values);
    start.finish(done, ok)
}

/// A node of the `nested` tree: spawns up to 10 leaves, or 10 subtrees, and sums their tasks.
fn node(ex: Executor, n: u64) -> Boxed {
    Box::pin(async move {
        let tasks: Vec<Task<u64>> = if n <= w::FAN_OUT {
            (0..n).map(|_| ex.spawn(async { 1 })).collect()
        } else {
            (0..w::FAN_OUT)
                .map(|_| ex.spawn(node(ex.clone(), n / w::FAN_OUT)))
                .collect()
        };
        let mut total = 0;
        for task in tasks {
            total += task.await;
        }
        total
    })
}

/// Link `i` of the chain: spawns link `i + 1` and awaits it; the last returns `n`.
fn link(ex: Executor, i: u64, n: u64) -> Boxed {
    Box::pin(async move {
        if i == n {
            n
        } else {
            let next = ex.spawn(link(ex.clone(), i + 1, n));
            next.await
        }
    })
}

/// The tasks in a `futures::stream::FuturesUnordered`, drained until the first `Err` (smol has
/// no join set; `try_join_all` over more than 30 futures would report the error only after the
/// earlier children had slept their 10 s). The set, and so the sleeping tasks (a dropped smol
/// `Task` is cancelled), is dropped in teardown.
async fn fail_fast(ex: &Executor, n: u64) -> Finish {
    let start = Start::now();
    let mut tasks: FuturesUnordered<Task<Result<u64, u64>>> = (0..n)
        .map(|i| {
            ex.spawn(async move {
                if i == w::failing(n) {
                    Err(i)
                } else {
                    Timer::after(w::FAIL_FAST_SLEEP).await;
                    Ok(i)
                }
            })
        })
        .collect();
    let mut index = None;
    while let Some(out) = tasks.next().await {
        if let Err(i) = out {
            index = Some(i);
            break;
        }
    }
    let done = Instant::now();
    let finish = start.finish(done, w::check_failure(n, index));
    drop(tasks);
    finish
}

/// Children that start sleeping 100 s; once all have started, `Task::cancel` each and await
/// all the cancellations together (`None`: cancelled before finishing).
async fn cancel(ex: &Executor, n: u64) -> Finish {
    w::reset_started();
    let start = Start::now();
    let tasks: Vec<Task<()>> = (0..n)
        .map(|_| {
            ex.spawn(async {
                w::started();
                Timer::after(w::CANCEL_SLEEP).await;
            })
        })
        .collect();
    while w::started_count() < n {
        yield_now().await;
    }
    let outs = futures::future::join_all(tasks.into_iter().map(Task::cancel)).await;
    let done = Instant::now();
    let cancelled = outs.iter().filter(|o| o.is_none()).count() as u64;
    start.finish(done, w::check_cancelled(n, cancelled))
}
