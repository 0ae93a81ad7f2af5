//! The systems compared, one module per family, each written the way its own docs recommend.
//!
//! Each `run` builds its runtime (not timed), runs one workload inside it, timing from just
//! before the first child is created to the result reaching the awaiter, then drops the runtime
//! (timed as teardown). The shapes are the same everywhere: children created in input order,
//! results collected in input order, the same sleeps and yields from [`crate::workload`].
//!
//! Recursive shapes (`nested`, `chain`) box their recursive future in every system: Rust needs
//! the indirection for a future that creates itself (and tokio's `Send` check cannot see through
//! the cycle otherwise), so all systems pay the same one allocation per internal node or link.
//!
//! `echo` (a TCP echo server and its clients on one runtime) exists for `asyncio`, `tokio-ct` and
//! `smol`; the other systems report it as skipped. Its shape is the same in the three: the server
//! spawns a task per accepted connection that reads what arrives and writes it back; the C
//! connections are opened one after the other before the clock starts (so the listen backlog
//! never matters), then C client tasks each send their messages one at a time, reading each whole
//! reply before the next. Every socket has `TCP_NODELAY` set, because ours sets it on every TCP
//! stream `open_connection` and `start_server` make (as Python's asyncio does), and the other two
//! then set it explicitly, on both ends. Messages are 64 bytes, so Nagle would rarely matter.

pub mod futures_family;
pub mod ours;
pub mod python;
pub mod smol;
pub mod tokio_family;

use crate::measure::Finish;
use crate::workload::Workload;

/// One system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum System {
    /// This workspace's crate: `asyncio::run`, `gather`, `spawn`.
    Asyncio,
    /// tokio's current-thread runtime, `tokio::spawn`, handles awaited in order.
    TokioCt,
    /// tokio's current-thread runtime with a `LocalSet` and `spawn_local`.
    TokioLocal,
    /// tokio's multi-thread runtime with 2 workers.
    TokioMt,
    /// async-executor's `LocalExecutor` driven by `async_io::block_on`, handles in order.
    Smol,
    /// `futures::future::join_all` over the child futures: no tasks.
    Futures,
    /// futures-concurrency's `Vec::join`: no tasks.
    FuturesConcurrency,
    /// CPython's asyncio, through `bench/python/gather_bench.py`.
    Cpython,
    /// uvloop under the same script.
    Uvloop,
}

impl System {
    /// Every system, ours first.
    pub const ALL: [System; 9] = [
        System::Asyncio,
        System::TokioCt,
        System::TokioLocal,
        System::TokioMt,
        System::Smol,
        System::Futures,
        System::FuturesConcurrency,
        System::Cpython,
        System::Uvloop,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            System::Asyncio => "asyncio",
            System::TokioCt => "tokio-ct",
            System::TokioLocal => "tokio-local",
            System::TokioMt => "tokio-mt",
            System::Smol => "smol",
            System::Futures => "futures",
            System::FuturesConcurrency => "futures-concurrency",
            System::Cpython => "cpython",
            System::Uvloop => "uvloop",
        }
    }

    /// One line for `bench list`.
    pub fn describe(self) -> &'static str {
        match self {
            System::Asyncio => "ours: asyncio::run, gather / try_gather, spawn",
            System::TokioCt => {
                "tokio current_thread runtime, tokio::spawn, JoinHandles awaited in order"
            }
            System::TokioLocal => "tokio current_thread runtime + LocalSet, spawn_local",
            System::TokioMt => "tokio multi_thread runtime, 2 workers, tokio::spawn",
            System::Smol => {
                "async_executor::LocalExecutor driven by async_io::block_on, Tasks awaited in order"
            }
            System::Futures => {
                "futures::future::join_all over the children (no tasks), async-io Timer"
            }
            System::FuturesConcurrency => {
                "futures_concurrency Vec::join over the children (no tasks), async-io Timer"
            }
            System::Cpython => {
                "CPython asyncio.run + asyncio.gather (bench/python/gather_bench.py)"
            }
            System::Uvloop => "uvloop + asyncio.gather (bench/python/setup.sh installs it)",
        }
    }

    /// The system called `name`.
    pub fn parse(name: &str) -> Option<System> {
        System::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the system runs in Python (measured by the script, skipped when absent).
    pub fn is_python(self) -> bool {
        matches!(self, System::Cpython | System::Uvloop)
    }
}

/// Why `system` has no form of `workload`, if it has none (a skip, not a failure).
pub fn unsupported(system: System, workload: Workload) -> Option<&'static str> {
    match (workload, system) {
        (Workload::Echo, System::Asyncio | System::TokioCt | System::Smol) => None,
        (Workload::Echo, _) => {
            Some("echo is not implemented for this system (only asyncio, tokio-ct and smol)")
        }
        (Workload::Chain, System::Futures | System::FuturesConcurrency) => {
            Some("no tasks: chain needs a task that spawns the next")
        }
        _ => None,
    }
}

/// Runs one Rust configuration in this process; `conns` is the connection count of `echo`.
/// `Err` names why the system has no form of this workload (a skip, not a failure).
pub fn run(
    system: System,
    workload: Workload,
    n: u64,
    conns: Option<u64>,
) -> Result<Finish, &'static str> {
    if let Some(why) = unsupported(system, workload) {
        return Err(why);
    }
    if workload == Workload::Echo {
        let conns = conns.unwrap_or(1);
        crate::workload::echo_watchdog(n);
        return Ok(match system {
            System::Asyncio => ours::echo(n, conns),
            System::TokioCt => tokio_family::echo(n, conns),
            System::Smol => smol::echo(n, conns),
            _ => unreachable!("refused by `unsupported`"),
        });
    }
    match system {
        System::Asyncio => Ok(ours::run(workload, n)),
        System::TokioCt => Ok(tokio_family::run(
            tokio_family::Flavor::CurrentThread,
            workload,
            n,
        )),
        System::TokioLocal => Ok(tokio_family::run(tokio_family::Flavor::Local, workload, n)),
        System::TokioMt => Ok(tokio_family::run(
            tokio_family::Flavor::MultiThread,
            workload,
            n,
        )),
        System::Smol => Ok(smol::run(workload, n)),
        System::Futures => Ok(futures_family::run(
            futures_family::Join::JoinAll,
            workload,
            n,
        )),
        System::FuturesConcurrency => Ok(futures_family::run(
            futures_family::Join::Concurrency,
            workload,
            n,
        )),
        System::Cpython | System::Uvloop => unreachable!("Python systems run through python::exec"),
    }
}
