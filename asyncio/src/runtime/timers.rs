//! The loop's timers: a binary heap of deadlines with lazy deletion.
//!
//! * Arm: O(log n) — push `(deadline, seq, key)` on the heap and put the waker in a slab.
//! * Cancel (a `Sleep` dropped early): O(1) — remove the slab entry; its heap record goes stale.
//!   Stale records are skipped when they reach the top, and when they outnumber the live ones the
//!   heap is rebuilt in O(n), so a dropped sleep never costs a full firing and the heap stays
//!   within a constant factor of the live timers (amortised O(1) per cancel).
//! * Fire: O(log n) per due timer. `seq` grows with every arm, so timers with equal deadlines fire
//!   in the order they were armed (rule L5).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

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

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    entries: Slab<Entry>,
    next_seq: u64,
}

impl Timers {
    /// Arms a timer that wakes `waker` once `deadline` has passed.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry { seq, waker });
        self.heap.push(Reverse((deadline, seq, key)));
        let key = u32::try_from(key)
            .unwrap_or_else(|_| panic!("more than {} timers armed on one loop", u32::MAX));
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
                .retain(|Reverse((_, seq, key))| entries.get(*key).is_some_and(|e| e.seq == *seq));
        }
        Some(waker)
    }

    /// Pops the earliest timer due at `now`, if any, and returns its waker.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if self.entries.get(key).is_some_and(|e| e.seq == seq) {
                return Some(self.entries.remove(key).waker);
            }
        }
        None
    }

    /// The earliest live deadline, discarding stale records on top.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if self.entries.get(key).is_some_and(|e| e.seq == seq) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
        let mut t = Timers::default();
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
        let mut t = Timers::default();
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
        let mut t = Timers::default();
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
}
