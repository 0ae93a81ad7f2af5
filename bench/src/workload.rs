//! The workloads: what each child does, shared by every system, and how a result is verified.
//!
//! Every system implements each workload with its own API, but the parameters (how long a child
//! sleeps, how often it yields, which child fails) and the checks of the result live here, once.
//!
//! `echo` is the one workload that is not a gather: a TCP echo server and its clients on one
//! single-threaded runtime, over loopback. Its messages, how they are spread over the
//! connections, its time limit and the check of what the clients saw live here too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::measure::{EchoLatency, Finish, Start};

/// One benchmark shape. Children are gathered in input order unless stated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// N children that return `i*i` at once.
    Ready,
    /// N children that yield once, then return `i`.
    SpawnYield,
    /// N children that sleep 1 ms, then return `i`.
    Sleep,
    /// Child i sleeps `i/N` seconds, then returns `i`: a 1 s workload whose figure is its secs.
    SleepSpread,
    /// Child i yields `15 − floor(16·i/N)` times, then returns `i` (16 waves, last-indexed first).
    Staggered,
    /// A tree of gathers with fan-out 10 and N leaves returning 1 (N a power of ten); result N.
    Nested,
    /// Child N/2 fails at once, the others sleep 10 s: secs is the time to the error; the
    /// sleepers are cancelled in teardown.
    FailFast,
    /// N children sleeping 100 s; cancel them all and await the cancellation.
    Cancel,
    /// A task spawns the next, N times; the last reports N.
    Chain,
    /// N messages of 64 bytes, request/response, over C loopback connections to an echo server
    /// on the same runtime; only `asyncio`, `tokio-ct` and `smol` have a form of it.
    Echo,
}

impl Workload {
    /// Every workload, in the order tables list them: the gather workloads, then `echo`.
    pub const ALL: [Workload; 10] = [
        Workload::Ready,
        Workload::SpawnYield,
        Workload::Sleep,
        Workload::SleepSpread,
        Workload::Staggered,
        Workload::Nested,
        Workload::FailFast,
        Workload::Cancel,
        Workload::Chain,
        Workload::Echo,
    ];

    /// The gather workloads: what `compare` runs unless told otherwise (`echo` has its own sizes
    /// and its own command, `bench echo`).
    pub const GATHER: &'static [Workload] = Workload::ALL.split_at(9).0;

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Ready => "ready",
            Workload::SpawnYield => "spawn_yield",
            Workload::Sleep => "sleep",
            Workload::SleepSpread => "sleep_spread",
            Workload::Staggered => "staggered",
            Workload::Nested => "nested",
            Workload::FailFast => "fail_fast",
            Workload::Cancel => "cancel",
            Workload::Chain => "chain",
            Workload::Echo => "echo",
        }
    }

    /// One line for `bench list`.
    pub fn describe(self) -> &'static str {
        match self {
            Workload::Ready => "N children return i*i at once",
            Workload::SpawnYield => "N children yield once, then return i",
            Workload::Sleep => "N children sleep 1 ms, then return i",
            Workload::SleepSpread => "child i sleeps i/N s, then returns i (one gather, ~1 s)",
            Workload::Staggered => "child i yields 15 - floor(16 i / N) times, then returns i",
            Workload::Nested => {
                "tree of gathers, fan-out 10, N leaves returning 1 (N a power of 10)"
            }
            Workload::FailFast => {
                "child N/2 fails at once, the others sleep 10 s; secs = time to the error"
            }
            Workload::Cancel => {
                "N children sleep 100 s; cancel them all and await the cancellation"
            }
            Workload::Chain => "a task spawns the next, N times; the last reports N",
            Workload::Echo => {
                "TCP echo over loopback: N 64-byte request/response messages over --conns C connections"
            }
        }
    }

    /// The workload called `name`.
    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Why `n` (and `conns`, the connection count, given for `echo` only) cannot be used with
    /// this workload, if they cannot.
    pub fn refuse(self, n: u64, conns: Option<u64>) -> Option<String> {
        if n == 0 {
            return Some("n must be at least 1".into());
        }
        if self == Workload::Nested && !is_power_of_ten(n) {
            return Some(format!("nested needs n to be a power of ten, not {n}"));
        }
        match (self, conns) {
            (Workload::Echo, None) => Some("echo needs a connection count (--conns)".into()),
            (Workload::Echo, Some(0)) => Some("--conns must be at least 1".into()),
            (Workload::Echo, Some(c)) if c > n => Some(format!(
                "echo needs n >= conns (every connection sends at least one message): n = {n}, conns = {c}"
            )),
            (Workload::Echo, Some(_)) | (_, None) => None,
            (_, Some(_)) => Some(format!("--conns applies to echo only, not {}", self.name())),
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

/// What child `i` of `ready` returns.
pub fn square(i: u64) -> u64 {
    i * i
}

/// How long a child of `sleep` sleeps.
pub const SLEEP: Duration = Duration::from_millis(1);

/// How long the children of `fail_fast` that do not fail sleep.
pub const FAIL_FAST_SLEEP: Duration = Duration::from_secs(10);

/// How long the children of `cancel` would sleep.
pub const CANCEL_SLEEP: Duration = Duration::from_secs(100);

/// The fan-out of the `nested` tree.
pub const FAN_OUT: u64 = 10;

/// How long child `i` of `sleep_spread` sleeps: `i/N` seconds.
pub fn spread(i: u64, n: u64) -> Duration {
    Duration::from_secs_f64(i as f64 / n as f64)
}

/// How many times child `i` of `staggered` yields: `15 − floor(16·i/N)`.
pub fn yields(i: u64, n: u64) -> u64 {
    15 - 16 * i / n
}

/// The child of `fail_fast` that fails.
pub fn failing(n: u64) -> u64 {
    n / 2
}

/// How many children of `cancel` have started (reached their sleep); reset by [`reset_started`].
/// A plain atomic so that every system, `tokio-mt` included, counts the same way.
static STARTED: AtomicU64 = AtomicU64::new(0);

/// Called by each child of `cancel` as it starts.
pub fn started() {
    STARTED.fetch_add(1, Ordering::Relaxed);
}

/// The number of children of `cancel` that have started.
pub fn started_count() -> u64 {
    STARTED.load(Ordering::Relaxed)
}

/// Resets the count of started children (before a `cancel` run).
pub fn reset_started() {
    STARTED.store(0, Ordering::Relaxed);
}

/// The value child `i` of a gathered workload must return.
fn expected(workload: Workload, i: u64) -> u64 {
    match workload {
        Workload::Ready => square(i),
        _ => i,
    }
}

/// Checks a gathered result: length, every value in input order, and the sum.
pub fn check_values(workload: Workload, n: u64, values: &[u64]) -> bool {
    if values.len() as u64 != n {
        eprintln!("{}: {} values for n = {n}", workload.name(), values.len());
        return false;
    }
    let mut sum: u64 = 0;
    for (i, &v) in (0u64..).zip(values) {
        if v != expected(workload, i) {
            eprintln!(
                "{}: value {i} is {v}, not {}",
                workload.name(),
                expected(workload, i)
            );
            return false;
        }
        sum = sum.wrapping_add(v);
    }
    let want = (0..n).fold(0u64, |s, i| s.wrapping_add(expected(workload, i)));
    sum == want
}

/// Checks a total (`nested`, `chain`): it must be N.
pub fn check_total(workload: Workload, n: u64, total: u64) -> bool {
    if total != n {
        eprintln!("{}: result {total}, not {n}", workload.name());
    }
    total == n
}

/// Checks the error of `fail_fast`: it must come from child N/2.
pub fn check_failure(n: u64, index: Option<u64>) -> bool {
    if index != Some(failing(n)) {
        eprintln!("fail_fast: error from child {index:?}, not {}", failing(n));
    }
    index == Some(failing(n))
}

/// Checks `cancel`: every child must have been cancelled.
pub fn check_cancelled(n: u64, cancelled: u64) -> bool {
    if cancelled != n {
        eprintln!("cancel: {cancelled} of {n} children cancelled");
    }
    cancelled == n
}

/// The size of every `echo` message, in bytes.
pub const ECHO_MESSAGE: usize = 64;

/// How many messages connection `c` of `conns` sends: `n` spread evenly, the first `n % conns`
/// connections sending one more.
pub fn messages_of(c: u64, n: u64, conns: u64) -> u64 {
    n / conns + u64::from(c < n % conns)
}

/// Message `i` of connection `c`: its first 16 bytes say which one it is, the rest is a pattern
/// of both, so a reply from another connection or a stale one does not match.
pub fn message(c: u64, i: u64) -> [u8; ECHO_MESSAGE] {
    let mut m = [0u8; ECHO_MESSAGE];
    m[..8].copy_from_slice(&c.to_le_bytes());
    m[8..16].copy_from_slice(&i.to_le_bytes());
    let seed = c.wrapping_mul(31).wrapping_add(i.wrapping_mul(7));
    for (k, b) in (0u64..).zip(&mut m[16..]) {
        *b = seed.wrapping_add(k) as u8;
    }
    m
}

/// How long an `echo` run may take before it gives up and fails: 30 s plus 200 µs per message,
/// some ten times what a loopback round trip takes here.
pub fn echo_time_limit(n: u64) -> Duration {
    Duration::from_secs(30)
        + Duration::from_micros(200).saturating_mul(n.min(u32::MAX as u64) as u32)
}

/// Starts the `echo` watchdog: a thread that, past [`echo_time_limit`], says so and ends the
/// process with a failure, so that a stuck run (a lost message, a connection that never comes)
/// fails instead of hanging, whichever system it is.
pub fn echo_watchdog(n: u64) {
    let limit = echo_time_limit(n);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("echo: not finished after {} s; giving up", limit.as_secs());
        std::process::exit(1);
    });
}

/// What one `echo` client returns: the round-trip time of each of its messages in ns (before
/// the write to after the whole reply), or what went wrong.
pub type ClientResult = Result<Vec<u64>, String>;

/// The error a client returns for a reply that is not the message sent.
pub fn wrong_reply(c: u64, i: u64, got: &[u8]) -> String {
    format!(
        "connection {c}, message {i}: the reply differs from the message ({} bytes: {:02x?}...)",
        got.len(),
        &got[..got.len().min(16)]
    )
}

/// The end of an `echo` run that could not start (no listener, a connection refused): the
/// reason on stderr, with a hint when file descriptors ran out, and a failed result.
pub fn echo_setup_failed(what: &str, e: std::io::Error) -> Finish {
    let hint = if e.raw_os_error() == Some(24) {
        " (out of file descriptors: raise `ulimit -n` above twice the connection count)"
    } else {
        ""
    };
    eprintln!("echo: {what}: {e}{hint}");
    Start::now().finish(Instant::now(), false)
}

/// Checks the clients of an `echo` run (each one ok, with one round trip per message it was
/// given, n in all) and makes the run's result, with the latency percentiles.
pub fn echo_finish(
    start: Start,
    done: Instant,
    n: u64,
    conns: u64,
    clients: Vec<ClientResult>,
) -> Finish {
    let mut all = Vec::with_capacity(n as usize);
    let mut ok = clients.len() as u64 == conns;
    if !ok {
        eprintln!("echo: {} clients reported, not {conns}", clients.len());
    }
    for (c, result) in (0u64..).zip(clients) {
        match result {
            Ok(times) if times.len() as u64 == messages_of(c, n, conns) => all.extend(times),
            Ok(times) => {
                eprintln!(
                    "echo: connection {c} made {} round trips, not {}",
                    times.len(),
                    messages_of(c, n, conns)
                );
                ok = false;
            }
            Err(why) => {
                if ok {
                    eprintln!("echo: {why}");
                }
                ok = false;
            }
        }
    }
    ok &= all.len() as u64 == n;
    start
        .finish(done, ok)
        .with_echo(EchoLatency::of(conns, &mut all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gather_workloads_are_all_but_echo() {
        let rest: Vec<Workload> = Workload::ALL
            .into_iter()
            .filter(|w| *w != Workload::Echo)
            .collect();
        assert_eq!(Workload::GATHER, rest.as_slice());
    }

    #[test]
    fn staggered_makes_sixteen_waves_last_indexed_first() {
        let n = 1600;
        assert_eq!(yields(0, n), 15);
        assert_eq!(yields(n - 1, n), 0);
        assert_eq!((0..n).filter(|&i| yields(i, n) == 7).count(), 100);
    }

    #[test]
    fn nested_accepts_only_powers_of_ten() {
        assert!(Workload::Nested.refuse(1_000, None).is_none());
        assert!(Workload::Nested.refuse(1, None).is_none());
        assert!(Workload::Nested.refuse(2_000, None).is_some());
        assert!(Workload::Ready.refuse(0, None).is_some());
    }

    #[test]
    fn echo_needs_a_connection_count_no_larger_than_n_and_others_take_none() {
        assert!(Workload::Echo.refuse(100, Some(10)).is_none());
        assert!(Workload::Echo.refuse(100, Some(100)).is_none());
        assert!(Workload::Echo.refuse(100, Some(101)).is_some());
        assert!(Workload::Echo.refuse(100, Some(0)).is_some());
        assert!(Workload::Echo.refuse(100, None).is_some());
        assert!(Workload::Ready.refuse(100, Some(10)).is_some());
    }

    #[test]
    fn echo_messages_are_spread_evenly_and_add_up_to_n() {
        let (n, conns) = (1003, 10);
        let counts: Vec<u64> = (0..conns).map(|c| messages_of(c, n, conns)).collect();
        assert_eq!(counts.iter().sum::<u64>(), n);
        assert_eq!(counts[..3], [101, 101, 101]);
        assert_eq!(counts[3..], [100; 7]);
    }

    #[test]
    fn echo_messages_differ_between_connections_and_between_messages() {
        assert_eq!(message(3, 5), message(3, 5));
        assert_ne!(message(3, 5), message(3, 6));
        assert_ne!(message(3, 5), message(5, 3));
        assert_eq!(message(0, 0).len(), ECHO_MESSAGE);
    }

    #[test]
    fn an_echo_run_with_a_short_or_failed_client_is_not_ok() {
        let good = || -> Vec<ClientResult> { vec![Ok(vec![1, 2]), Ok(vec![3])] };
        let finish = |clients| echo_finish(Start::now(), Instant::now(), 3, 2, clients);
        assert!(finish(good()).report("s", "echo", 3).ok);
        let mut short = good();
        short[1] = Ok(vec![]);
        assert!(!finish(short).report("s", "echo", 3).ok);
        let mut failed = good();
        failed[0] = Err("connection 0, message 1: reset".into());
        assert!(!finish(failed).report("s", "echo", 3).ok);
        assert!(
            !finish(good().into_iter().take(1).collect())
                .report("s", "echo", 3)
                .ok
        );
    }

    #[test]
    fn values_out_of_order_fail_the_check() {
        assert!(check_values(Workload::Ready, 3, &[0, 1, 4]));
        assert!(!check_values(Workload::SpawnYield, 3, &[0, 2, 1]));
        assert!(!check_values(Workload::SpawnYield, 3, &[0, 1]));
    }
}
