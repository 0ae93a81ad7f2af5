//! The loop's timers: a 4-ary min-heap of deadlines with lazy deletion.
//!
//! * Arm: O(log n) — push `(deadline, seq, key)` on the heap and put the waker in a slab.
//! * Cancel (a `Sleep` dropped early): O(1) — remove the slab entry; its heap record goes stale.
//!   Stale records are skipped when they reach the top, and when they outnumber the live ones the
//!   heap is rebuilt in O(n), so a dropped sleep never costs a full firing and the heap stays
//!   within a constant factor of the live timers (amortised O(1) per cancel).
//! * Fire: O(log n) per due timer. `seq` grows with every arm, so timers with equal deadlines fire
//!   in the order they were armed (rule L5).
//!
//! Why a 4-ary heap of 24-byte records rather than `BinaryHeap<(Instant, u64, usize)>`: with a
//! million timers the heap is far bigger than the caches and a pop is a cache miss per level;
//! four children per node halve the levels (and sit in adjacent cache lines), and a deadline kept
//! as nanoseconds from the loop's start compares in one instruction. sleep_spread at 1e6 (a
//! million timers firing over one second) spent 0.2 s popping a binary heap.

use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;

/// Identifies one armed timer: the slab key plus the arm's sequence number, so a reused key
/// is never mistaken for an older timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    pub(crate) key: u32,
    pub(crate) seq: u64,
}

struct Entry {
    seq: u64,
    waker: Waker,
}

/// A heap record, ordered by `(at, seq)`.
#[derive(Clone, Copy)]
struct Record {
    /// The deadline, in nanoseconds since `Timers::base` (earlier deadlines count as 0).
    at: u64,
    seq: u64,
    key: u32,
}

impl Record {
    fn before(&self, other: &Record) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

/// Children per heap node.
const ARITY: usize = 4;

pub(crate) struct Timers {
    /// The origin of `Record::at`: no earlier than any time the loop's clock will read.
    base: Instant,
    heap: Vec<Record>,
    entries: Slab<Entry>,
    next_seq: u64,
}

impl Timers {
    /// Timers of a loop whose clock never reads earlier than `base`.
    pub(crate) fn new(base: Instant) -> Timers {
        Timers {
            base,
            heap: Vec::new(),
            entries: Slab::new(),
            next_seq: 0,
        }
    }

    /// Nanoseconds from `base` to `t`: 0 before it, saturating 584 years after.
    fn nanos(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.base);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Arms a timer that wakes `waker` once `deadline` has passed.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry { seq, waker });
        let key = u32::try_from(key)
            .unwrap_or_else(|_| panic!("more than {} timers armed on one loop", u32::MAX));
        let at = self.nanos(deadline);
        self.push(Record { at, seq, key });
        TimerKey { key, seq }
    }

    /// True while the timer is armed and has not fired.
    pub(crate) fn is_armed(&self, t: TimerKey) -> bool {
        self.entries
            .get(t.key as usize)
            .is_some_and(|e| e.seq == t.seq)
    }

    /// Replaces the waker of an armed timer (a future polled with a new waker).
    pub(crate) fn update_waker(&mut self, t: TimerKey, waker: &Waker) {
        if let Some(e) = self
            .entries
            .get_mut(t.key as usize)
            .filter(|e| e.seq == t.seq)
        {
            if !e.waker.will_wake(waker) {
                e.waker = waker.clone();
            }
        }
    }

    /// Disarms a timer; returns its waker (drop it outside any borrow of the loop).
    pub(crate) fn remove(&mut self, t: TimerKey) -> Option<Waker> {
        if !self.is_armed(t) {
            return None;
        }
        let waker = self.entries.remove(t.key as usize).waker;
        // Rebuild once stale records are the majority: O(n) work paid for by n/2 cancels.
        if self.heap.len() > 64 && self.heap.len() > 2 * self.entries.len() {
            let entries = &self.entries;
            self.heap
                .retain(|r| entries.get(r.key as usize).is_some_and(|e| e.seq == r.seq));
            for i in (0..self.heap.len()).rev() {
                self.sift_down(i);
            }
        }
        Some(waker)
    }

    fn is_live(&self, r: &Record) -> bool {
        self.entries
            .get(r.key as usize)
            .is_some_and(|e| e.seq == r.seq)
    }

    /// Pops the earliest timer due at `now`, if any, and returns its waker.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        let now = self.nanos(now);
        while let Some(&top) = self.heap.first() {
            if top.at > now {
                return None;
            }
            self.pop();
            if self.is_live(&top) {
                return Some(self.entries.remove(top.key as usize).waker);
            }
        }
        None
    }

    /// The earliest live deadline, discarding stale records on top.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&top) = self.heap.first() {
            if self.is_live(&top) {
                return Some(self.base + Duration::from_nanos(top.at));
            }
            self.pop();
        }
        None
    }

    /// Disarms every timer (their wakers are dropped).
    pub(crate) fn clear(&mut self) {
        *self = Timers::new(self.base);
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn push(&mut self, r: Record) {
        let mut i = self.heap.len();
        self.heap.push(r);
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !r.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = r;
    }

    /// Removes the top record.
    fn pop(&mut self) {
        let last = self.heap.pop();
        if let (Some(last), false) = (last, self.heap.is_empty()) {
            self.heap[0] = last;
            self.sift_down(0);
        }
    }

    /// Moves the record at `i` down to its place below.
    fn sift_down(&mut self, mut i: usize) {
        let r = self.heap[i];
        let n = self.heap.len();
        loop {
            let first = i * ARITY + 1;
            if first >= n {
                break;
            }
            let mut least = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.heap[c].before(&self.heap[least]) {
                    least = c;
                }
            }
            if !self.heap[least].before(&r) {
                break;
            }
            self.heap[i] = self.heap[least];
            i = least;
        }
        self.heap[i] = r;
    }

    /// Heap records, live and stale (for tests of the lazy deletion bound).
    #[cfg(test)]
    fn records(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;
    use std::time::Duration;

    #[test]
    fn equal_deadlines_fire_in_arm_order() {
        let mut t = Timers::new(Instant::now() - Duration::from_secs(1));
        let at = Instant::now();
        let a = t.insert(at, Waker::noop().clone());
        let b = t.insert(at, Waker::noop().clone());
        let c = t.insert(at - Duration::from_millis(1), Waker::noop().clone());
        assert!(t.pop_due(at).is_some()); // c (earlier deadline)
        assert!(!t.is_armed(c));
        assert!(t.is_armed(a) && t.is_armed(b));
        t.pop_due(at);
        assert!(!t.is_armed(a), "a was armed before b, so it fires first");
        assert!(t.is_armed(b));
    }

    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let mut t = Timers::new(Instant::now() - Duration::from_secs(1));
        let at = Instant::now() + Duration::from_secs(10);
        for _ in 0..100_000 {
            let k = t.insert(at, Waker::noop().clone());
            t.remove(k);
        }
        assert_eq!(t.len(), 0);
        assert!(t.records() <= 130, "stale records kept: {}", t.records());
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_reused_key_is_not_the_old_timer() {
        let mut t = Timers::new(Instant::now() - Duration::from_secs(1));
        let now = Instant::now();
        let old = t.insert(now, Waker::noop().clone());
        t.remove(old);
        let new = t.insert(now + Duration::from_secs(1), Waker::noop().clone());
        assert!(!t.is_armed(old));
        assert!(
            t.remove(old).is_none(),
            "removing a stale key must not disarm the new timer"
        );
        assert!(t.is_armed(new));
    }

    proptest::proptest! {
        /// Against a sorted reference: arms, cancels and firings in any mix give the timers in
        /// (deadline, arm order), and `next_deadline` is always the earliest armed one.
        #[test]
        fn fires_in_deadline_then_arm_order_like_a_sorted_list(
            ops in proptest::collection::vec((0u8..3, 0u64..50), 1..300)
        ) {
            let base = Instant::now();
            let mut t = Timers::new(base);
            let mut model: Vec<(u64, u64, TimerKey)> = Vec::new(); // (ms, seq, key), sorted
            let mut now = 0u64;
            for (op, x) in ops {
                match op {
                    0 => {
                        let at = now + x;
                        let k = t.insert(base + Duration::from_millis(at), Waker::noop().clone());
                        model.push((at, k.seq, k));
                        model.sort_by_key(|m| (m.0, m.1));
                    }
                    1 if !model.is_empty() => {
                        let (_, _, k) = model.remove(x as usize % model.len());
                        proptest::prop_assert!(t.remove(k).is_some());
                    }
                    _ => {
                        now += x;
                        let due = model.iter().take_while(|m| m.0 <= now).count();
                        for (_, _, k) in model.drain(..due) {
                            proptest::prop_assert!(t.is_armed(k));
                            proptest::prop_assert!(t.pop_due(base + Duration::from_millis(now)).is_some());
                            proptest::prop_assert!(!t.is_armed(k), "fired out of order");
                        }
                        proptest::prop_assert!(t.pop_due(base + Duration::from_millis(now)).is_none());
                    }
                }
                let next = model.first().map(|m| base + Duration::from_millis(m.0));
                proptest::prop_assert_eq!(t.next_deadline(), next);
                proptest::prop_assert_eq!(t.len(), model.len());
            }
        }
    }
}
