//! The workloads: what each child does, shared by every system, and how a result is verified.
//!
//! Every system implements each workload with its own API, but the parameters (how long a child
//! sleeps, how often it yields, which child fails) and the checks of the result live here, once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
}

impl Workload {
    /// Every workload, in the order tables list them.
    pub const ALL: [Workload; 9] = [
        Workload::Ready,
        Workload::SpawnYield,
        Workload::Sleep,
        Workload::SleepSpread,
        Workload::Staggered,
        Workload::Nested,
        Workload::FailFast,
        Workload::Cancel,
        Workload::Chain,
    ];

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
        }
    }

    /// The workload called `name`.
    pub fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Why `n` cannot be used with this workload, if it cannot.
    pub fn refuse(self, n: u64) -> Option<String> {
        if n == 0 {
            return Some("n must be at least 1".into());
        }
        if self == Workload::Nested && !is_power_of_ten(n) {
            return Some(format!("nested needs n to be a power of ten, not {n}"));
        }
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staggered_makes_sixteen_waves_last_indexed_first() {
        let n = 1600;
        assert_eq!(yields(0, n), 15);
        assert_eq!(yields(n - 1, n), 0);
        assert_eq!((0..n).filter(|&i| yields(i, n) == 7).count(), 100);
    }

    #[test]
    fn nested_accepts_only_powers_of_ten() {
        assert!(Workload::Nested.refuse(1_000).is_none());
        assert!(Workload::Nested.refuse(1).is_none());
        assert!(Workload::Nested.refuse(2_000).is_some());
        assert!(Workload::Ready.refuse(0).is_some());
    }

    #[test]
    fn values_out_of_order_fail_the_check() {
        assert!(check_values(Workload::Ready, 3, &[0, 1, 4]));
        assert!(!check_values(Workload::SpawnYield, 3, &[0, 2, 1]));
        assert!(!check_values(Workload::SpawnYield, 3, &[0, 1]));
    }
}
