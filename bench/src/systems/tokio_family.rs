//! tokio, three ways: the current-thread runtime with `tokio::spawn` (`tokio-ct`), the same
//! runtime with a `LocalSet` and `spawn_local` (`tokio-local`), and the multi-thread runtime with
//! 2 workers (`tokio-mt`). One body serves all three, generic over how a task is spawned
//! (monomorphised: no cost). Children are tasks whose `JoinHandle`s are awaited in order, as
//! tokio's docs show for collecting results; `fail_fast` uses a `JoinSet` (tokio's tool for
//! "first to finish"), whose drop aborts the tasks still sleeping.
//!
//! `echo` runs on the current-thread runtime only (`tokio-ct`), with `tokio::net` and the
//! `AsyncReadExt` / `AsyncWriteExt` helpers, a task per accepted connection as tokio's docs show
//! for an echo server, and the clients spawned, their handles awaited in order.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::task::{JoinHandle, JoinSet, LocalSet};
use tokio::time::sleep;

use crate::measure::{Finish, Start};
use crate::workload::{self as w, Workload};

/// Which tokio scheduler.
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// `new_current_thread`, `tokio::spawn`.
    CurrentThread,
    /// `new_current_thread` + `LocalSet`, `spawn_local`.
    Local,
    /// `new_multi_thread` with 2 workers, `tokio::spawn`.
    MultiThread,
}

/// How a task is spawned: `tokio::spawn` or `tokio::task::spawn_local`.
trait Spawn: Copy + Send + Sync + 'static {
    fn spawn<F>(self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn spawn_into<F, T>(self, set: &mut JoinSet<T>, f: F)
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static;
}

#[derive(Clone, Copy)]
struct Global;

impl Spawn for Global {
    fn spawn<F>(self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(f)
    }
    fn spawn_into<F, T>(self, set: &mut JoinSet<T>, f: F)
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        set.spawn(f);
    }
}

#[derive(Clone, Copy)]
struct Local;

impl Spawn for Local {
    fn spawn<F>(self, f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::task::spawn_local(f)
    }
    fn spawn_into<F, T>(self, set: &mut JoinSet<T>, f: F)
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        set.spawn_local(f);
    }
}

/// Runs `workload` with `n` children; the runtime (and LocalSet) is dropped before returning.
pub fn run(flavor: Flavor, workload: Workload, n: u64) -> Finish {
    let rt = match flavor {
        Flavor::CurrentThread | Flavor::Local => Builder::new_current_thread().enable_all().build(),
        Flavor::MultiThread => Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .expect("building a tokio runtime");
    let finish = match flavor {
        Flavor::Local => {
            let local = LocalSet::new();
            let finish = rt.block_on(local.run_until(body(Local, workload, n)));
            drop(local);
            finish
        }
        Flavor::CurrentThread | Flavor::MultiThread => rt.block_on(body(Global, workload, n)),
    };
    drop(rt);
    finish
}

async fn body<S: Spawn>(s: S, workload: Workload, n: u64) -> Finish {
    match workload {
        Workload::Ready => in_order(s, workload, n, |i| async move { w::square(i) }).await,
        Workload::SpawnYield => {
            in_order(s, workload, n, |i| async move {
                tokio::task::yield_now().await;
                i
            })
            .await
        }
        Workload::Sleep => {
            in_order(s, workload, n, |i| async move {
                sleep(w::SLEEP).await;
                i
            })
            .await
        }
        Workload::SleepSpread => {
            in_order(s, workload, n, move |i| async move {
                sleep(w::spread(i, n)).await;
                i
            })
            .await
        }
        Workload::Staggered => {
            in_order(s, workload, n, move |i| async move {
                for _ in 0..w::yields(i, n) {
                    tokio::task::yield_now().await;
                }
                i
            })
            .await
        }
        Workload::Nested => {
            let start = Start::now();
            let total = node(s, n).await;
            start.finish(Instant::now(), w::check_total(workload, n, total))
        }
        Workload::FailFast => fail_fast(s, n).await,
        Workload::Cancel => cancel(s, n).await,
        Workload::Chain => {
            let start = Start::now();
            let total = s.spawn(link(s, 1, n)).await.unwrap_or(0);
            start.finish(Instant::now(), w::check_total(workload, n, total))
        }
        Workload::Echo => unreachable!("echo runs through tokio_family::echo"),
    }
}

/// `echo` on the current-thread runtime: the server and `conns` clients, `n` messages in all;
/// the runtime (with the server's tasks) is dropped before returning.
pub fn echo(n: u64, conns: u64) -> Finish {
    let rt = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime");
    let finish = rt.block_on(echo_body(n, conns));
    drop(rt);
    finish
}

async fn echo_body(n: u64, conns: u64) -> Finish {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => return w::echo_setup_failed("binding 127.0.0.1:0", e),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return w::echo_setup_failed("the listener's address", e),
    };
    let server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::spawn(echo_back(socket));
        }
    });
    let mut streams = Vec::with_capacity(conns as usize);
    for _ in 0..conns {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                streams.push(s);
            }
            Err(e) => return w::echo_setup_failed("connecting to the server", e),
        }
    }
    let start = Start::now();
    let handles: Vec<JoinHandle<w::ClientResult>> = (0u64..)
        .zip(streams)
        .map(|(c, s)| tokio::spawn(client(c, w::messages_of(c, n, conns), s)))
        .collect();
    let mut clients = Vec::with_capacity(handles.len());
    for handle in handles {
        clients.push(handle.await.unwrap_or_else(|e| Err(e.to_string())));
    }
    let done = Instant::now();
    let finish = w::echo_finish(start, done, n, conns, clients);
    server.abort();
    finish
}

/// The server's side of a connection: writes back whatever arrives until end of stream.
async fn echo_back(mut socket: TcpStream) {
    let mut buf = vec![0; 4096];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                if socket.write_all(&buf[..k]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One client: `messages` round trips, each reply read whole and checked.
async fn client(c: u64, messages: u64, mut stream: TcpStream) -> w::ClientResult {
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

/// Spawns `n` children made by `child`, awaits the handles in order into a `Vec`.
async fn in_order<S, F, Fut>(s: S, workload: Workload, n: u64, child: F) -> Finish
where
    S: Spawn,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let start = Start::now();
    let handles: Vec<JoinHandle<u64>> = (0..n).map(child).map(|f| s.spawn(f)).collect();
    let mut values = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(v) => values.push(v),
            Err(_) => break,
        }
    }
    let done = Instant::now();
    let ok = w::check_values(workload, n, &values);
    start.finish(done, ok)
}

type Boxed = Pin<Box<dyn Future<Output = u64> + Send>>;

/// A node of the `nested` tree: spawns up to 10 leaves, or 10 subtrees, and sums their handles.
fn node<S: Spawn>(s: S, n: u64) -> Boxed {
    Box::pin(async move {
        let handles: Vec<JoinHandle<u64>> = if n <= w::FAN_OUT {
            (0..n).map(|_| s.spawn(async { 1 })).collect()
        } else {
            (0..w::FAN_OUT)
                .map(|_| s.spawn(node(s, n / w::FAN_OUT)))
                .collect()
        };
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap_or(0);
        }
        total
    })
}

/// Link `i` of the chain: spawns link `i + 1` and awaits it; the last returns `n`.
fn link<S: Spawn>(s: S, i: u64, n: u64) -> Boxed {
    Box::pin(async move {
        if i == n {
            n
        } else {
            s.spawn(link(s, i + 1, n)).await.unwrap_or(0)
        }
    })
}

/// A `JoinSet` awaited in completion order: the first `Err` is the answer. The set is dropped
/// in teardown, which aborts the sleepers (tokio's idiom for "cancel the rest").
async fn fail_fast<S: Spawn>(s: S, n: u64) -> Finish {
    let start = Start::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        s.spawn_into(&mut set, async move {
            if i == w::failing(n) {
                Err(i)
            } else {
                sleep(w::FAIL_FAST_SLEEP).await;
                Ok(i)
            }
        });
    }
    let mut index = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(_)) => {}
            Ok(Err(i)) => {
                index = Some(i);
                break;
            }
            Err(_) => break,
        }
    }
    let done = Instant::now();
    let finish = start.finish(done, w::check_failure(n, index));
    drop(set);
    finish
}

/// Children that start sleeping 100 s; once all have started, abort every handle and await
/// each one's cancelled `JoinError`.
async fn cancel<S: Spawn>(s: S, n: u64) -> Finish {
    w::reset_started();
    let start = Start::now();
    let handles: Vec<JoinHandle<()>> = (0..n)
        .map(|_| {
            s.spawn(async {
                w::started();
                sleep(w::CANCEL_SLEEP).await;
            })
        })
        .collect();
    while w::started_count() < n {
        tokio::task::yield_now().await;
    }
    for handle in &handles {
        handle.abort();
    }
    let mut cancelled = 0;
    for handle in handles {
        if matches!(handle.await, Err(e) if e.is_cancelled()) {
            cancelled += 1;
        }
    }
    let done = Instant::now();
    start.finish(done, w::check_cancelled(n, cancelled))
}
