//! `asyncio` (ours), written as its crate docs show: `asyncio::run`, `gather` / `try_gather`,
//! `spawn`, `sleep`, `yield_now`; `echo` with the streams API, as `examples/gather_clients.rs`
//! does: `start_server`, `open_connection`, `StreamWriter::write` + `drain`,
//! `StreamReader::readexactly`.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use asyncio::{
    gather, open_connection, sleep, spawn, start_server, try_gather, yield_now, StreamReader,
    StreamWriter, TaskError,
};

use crate::measure::{Finish, Start};
use crate::workload::{self as w, Workload};

type Boxed = Pin<Box<dyn Future<Output = u64>>>;

/// Runs `workload` with `n` children on a fresh loop; `run` returns once every task is gone.
pub fn run(workload: Workload, n: u64) -> Finish {
    asyncio::run(async move {
        match workload {
            Workload::Ready => in_order(workload, n, |i| async move { w::square(i) }).await,
            Workload::SpawnYield => {
                in_order(workload, n, |i| async move {
                    yield_now().await;
                    i
                })
                .await
            }
            Workload::Sleep => {
                in_order(workload, n, |i| async move {
                    sleep(w::SLEEP).await;
                    i
                })
                .await
            }
            Workload::SleepSpread => {
                in_order(workload, n, move |i| async move {
                    sleep(w::spread(i, n)).await;
                    i
                })
                .await
            }
            Workload::Staggered => {
                in_order(workload, n, move |i| async move {
                    for _ in 0..w::yields(i, n) {
                        yield_now().await;
                    }
                    i
                })
                .await
            }
            Workload::Nested => {
                let start = Start::now();
                let total = node(n).await;
                start.finish(Instant::now(), w::check_total(workload, n, total))
            }
            Workload::FailFast => fail_fast(n).await,
            Workload::Cancel => cancel(n).await,
            Workload::Chain => {
                let start = Start::now();
                let total = spawn(link(1, n)).await.unwrap_or(0);
                start.finish(Instant::now(), w::check_total(workload, n, total))
            }
            Workload::Echo => unreachable!("echo runs through ours::echo"),
        }
    })
}

/// `echo`: a `start_server` echo server and `conns` clients on one loop, `n` messages in all.
pub fn echo(n: u64, conns: u64) -> Finish {
    asyncio::run(async move {
        let server = match start_server(echo_back, "127.0.0.1", 0).await {
            Ok(server) => server,
            Err(e) => return w::echo_setup_failed("start_server on 127.0.0.1", e),
        };
        let mut connections = Vec::with_capacity(conns as usize);
        for _ in 0..conns {
            match open_connection("127.0.0.1", server.port()).await {
                Ok(pair) => connections.push(pair),
                Err(e) => return w::echo_setup_failed("open_connection to the server", e),
            }
        }
        let start = Start::now();
        let clients =
            gather((0u64..).zip(connections).map(|(c, (reader, writer))| {
                client(c, w::messages_of(c, n, conns), reader, writer)
            }))
            .await;
        let done = Instant::now();
        let clients = clients.unwrap_or_else(|e| vec![Err(format!("the gather failed: {e}"))]);
        let finish = w::echo_finish(start, done, n, conns, clients);
        server.close();
        finish
    })
}

/// The server's side of a connection: writes back whatever arrives until end of stream.
async fn echo_back(mut reader: StreamReader, mut writer: StreamWriter) {
    loop {
        match reader.read(4096).await {
            Ok(data) if !data.is_empty() => {
                writer.write(&data);
                if writer.drain().await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// One client: `messages` round trips, each reply read whole and checked.
async fn client(
    c: u64,
    messages: u64,
    mut reader: StreamReader,
    mut writer: StreamWriter,
) -> w::ClientResult {
    let mut times = Vec::with_capacity(messages as usize);
    for i in 0..messages {
        let message = w::message(c, i);
        let sent = Instant::now();
        writer.write(&message);
        let reply = match writer.drain().await {
            Ok(()) => reader.readexactly(w::ECHO_MESSAGE).await,
            Err(e) => Err(e),
        }
        .map_err(|e| format!("connection {c}, message {i}: {e}"))?;
        times.push(sent.elapsed().as_nanos() as u64);
        if reply != message {
            return Err(w::wrong_reply(c, i, &reply));
        }
    }
    Ok(times)
}

/// `gather` over `n` children made by `child`, results checked in input order.
async fn in_order<F, Fut>(workload: Workload, n: u64, child: F) -> Finish
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = u64> + 'static,
{
    let start = Start::now();
    let out = gather((0..n).map(child)).await;
    let done = Instant::now();
    let ok = matches!(&out, Ok(values) if w::check_values(workload, n, values));
    start.finish(done, ok)
}

/// A node of the `nested` tree: a gather of up to 10 leaves, or of 10 subtrees.
fn node(n: u64) -> Boxed {
    Box::pin(async move {
        let parts = if n <= w::FAN_OUT {
            gather((0..n).map(|_| async { 1 })).await
        } else {
            gather((0..w::FAN_OUT).map(|_| node(n / w::FAN_OUT))).await
        };
        parts.map_or(0, |v| v.iter().sum())
    })
}

/// Link `i` of the chain: spawns link `i + 1` and awaits it; the last returns `n`.
fn link(i: u64, n: u64) -> Boxed {
    Box::pin(async move {
        if i == n {
            n
        } else {
            spawn(link(i + 1, n)).await.unwrap_or(0)
        }
    })
}

/// The default-mode `try_gather` (asyncio's own `gather`): the first failure completes it at
/// once, the siblings keep sleeping, and `asyncio::run` cancels them when main returns, as
/// `asyncio.run` does. So `secs` is the time to the error and the cancellation of the N − 1
/// sleepers is in `teardown_secs`. (`.cancel_on_error()` would put that cancellation inside
/// `secs`, since such a gather completes only after the siblings have finished.)
async fn fail_fast(n: u64) -> Finish {
    let start = Start::now();
    let out = try_gather((0..n).map(|i| async move {
        if i == w::failing(n) {
            Err(i)
        } else {
            sleep(w::FAIL_FAST_SLEEP).await;
            Ok(i)
        }
    }))
    .await;
    let done = Instant::now();
    let index = match out {
        Err(TaskError::Failed(i)) => Some(i),
        _ => None,
    };
    start.finish(done, w::check_failure(n, index))
}

/// Children that start sleeping 100 s; once all have started, `Gather::cancel` and await the
/// gather's `Err(Cancelled)` (it completes once every child is gone).
async fn cancel(n: u64) -> Finish {
    w::reset_started();
    let start = Start::now();
    let mut all = gather((0..n).map(|_| async {
        w::started();
        sleep(w::CANCEL_SLEEP).await;
    }));
    while w::started_count() < n {
        yield_now().await;
    }
    all.cancel();
    let out = (&mut all).await;
    let done = Instant::now();
    let cancelled = if matches!(out, Err(TaskError::Cancelled)) {
        n
    } else {
        0
    };
    start.finish(done, w::check_cancelled(n, cancelled))
}
