//! Soak: a million tasks a round, twenty rounds, and the process's peak memory must stop growing
//! after the first round. Ignored by default (about 10 s in release); run by scripts/soak.sh:
//! `cargo test --release -p asyncio --test soak -- --ignored --nocapture`.

use asyncio::{gather, spawn, yield_now, EventLoop, Task};

const TASKS: usize = 1_000_000;
const ROUNDS: usize = 20;
/// Peak RSS may exceed round 1's by this much (allocator noise: a few arenas' worth), no more.
const TOLERANCE_PERCENT: u64 = 5;

/// `VmHWM` (peak resident set) and `VmRSS` (current) of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One round: half the tasks spawned and awaited through their handles, half gathered; each
/// yields once and returns its index, so every task is woken, run twice, and completed.
fn round(lp: &EventLoop) -> usize {
    lp.run_until_complete(async {
        let half = TASKS / 2;
        let handles: Vec<Task<usize>> = (0..half)
            .map(|i| {
                spawn(async move {
                    yield_now().await;
                    i
                })
            })
            .collect();
        let gathered = gather((half..TASKS).map(|i| async move {
            yield_now().await;
            i
        }));
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("a task failed");
        }
        sum + gathered
            .await
            .expect("the gather failed")
            .into_iter()
            .sum::<usize>()
    })
}

#[test]
#[ignore = "soak: a million tasks x 20 rounds; run by scripts/soak.sh"]
fn a_million_tasks_a_round_for_twenty_rounds_do_not_grow_peak_memory_after_the_first() {
    let lp = EventLoop::new();
    let expected = TASKS * (TASKS - 1) / 2;
    let (start_peak, _) = memory_kib();
    let mut first_peak = 0;
    for r in 1..=ROUNDS {
        assert_eq!(
            round(&lp),
            expected,
            "round {r}: every task's value arrived once"
        );
        let (peak, rss) = memory_kib();
        eprintln!("soak: round {r:2}: peak RSS {peak} KiB, RSS {rss} KiB");
        if r == 1 {
            first_peak = peak;
        } else {
            assert!(
                peak <= first_peak + first_peak * TOLERANCE_PERCENT / 100,
                "round {r}: peak RSS {peak} KiB grew past round 1's {first_peak} KiB + \
                 {TOLERANCE_PERCENT}%: memory is kept between rounds"
            );
        }
    }
    eprintln!(
        "soak: {ROUNDS} rounds x {TASKS} tasks; peak RSS before {start_peak} KiB, after round 1 \
         {first_peak} KiB, at the end {} KiB (tolerance {TOLERANCE_PERCENT}%)",
        memory_kib().0
    );
}
