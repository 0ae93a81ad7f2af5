//! Synchronisation between the tasks of one loop: asyncio's `Lock`, `Event`, `Condition`,
//! `Semaphore`, `BoundedSemaphore`, `Barrier` and the three queues.
//!
//! | asyncio | here |
//! |---|---|
//! | `asyncio.Lock`, `async with lock` | [`Lock`], `let _guard = lock.acquire().await` ([`LockGuard`]) |
//! | `asyncio.Event` | [`Event`] |
//! | `asyncio.Condition` | [`Condition`]: `guard = cond.wait(guard).await`, [`Condition::wait_for`] |
//! | `asyncio.Semaphore`, `asyncio.BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] ([`SemaphorePermit`]) |
//! | `asyncio.Barrier`, `BrokenBarrierError` | [`Barrier`], [`BrokenBarrierError`] |
//! | `asyncio.Queue`, `LifoQueue`, `PriorityQueue` | [`Queue`], [`LifoQueue`], [`PriorityQueue`] |
//! | `QueueEmpty`, `QueueFull`, `QueueShutDown` | [`TryGetError::Empty`], [`TryPutError::Full`], [`QueueShutDown`] |
//!
//! ```
//! use asyncio::sync::{Lock, Queue};
//! use asyncio::{gather, run, spawn};
//! use std::{cell::RefCell, rc::Rc};
//!
//! run(async {
//!     let jobs = Rc::new(Queue::new(2)); // bounded: producers wait when it is full
//!     let log = Rc::new((Lock::new(), RefCell::new(Vec::new())));
//!     let workers: Vec<_> = (0..2)
//!         .map(|_| {
//!             let (jobs, log) = (jobs.clone(), log.clone());
//!             spawn(async move {
//!                 while let Ok(n) = jobs.get().await {
//!                     let _guard = log.0.acquire().await;
//!                     log.1.borrow_mut().push(n * n);
//!                     jobs.task_done();
//!                 }
//!             })
//!         })
//!         .collect();
//!     for n in 1..=5 {
//!         jobs.put(n).await.unwrap();
//!     }
//!     jobs.join().await; // every job done
//!     jobs.shutdown(false); // the workers' get() now fails: they stop
//!     gather(workers).await.unwrap();
//!     let mut out = log.1.borrow().clone();
//!     out.sort();
//!     assert_eq!(out, [1, 4, 9, 16, 25]);
//! });
//! ```
//!
//! Like the tasks that use them, these types belong to one thread (they are `!Send`): share one
//! between tasks with an `Rc`, or borrow it from a value that outlives the tasks. Nothing here
//! takes a lock or touches an atomic.
//!
//! # The waiter queue every primitive shares
//!
//! Each primitive keeps its waiters in a `WaitList`: a doubly linked list threaded through a
//! slab, in arrival order. A waiting future (an `acquire()`, a `get()`, a `wait()`) owns one node:
//!
//! ```text
//!   push_back ─▶ Waiting ──notify──▶ Notified ──the future is polled──▶ node freed (wake consumed)
//!                   │                    │
//!                   └── future dropped ──┴──▶ node freed; if it was Notified, the wake-up is
//!                                             handed on (what that means is the primitive's rule)
//! ```
//!
//! * `notify` unlinks the first *waiting* node, marks it notified and wakes its task: O(1). The
//!   node stays in the slab until its owner polls it (then the wake-up is consumed) or drops it.
//! * A future dropped while waiting unlinks itself: O(1), so cancellation never leaves a dead
//!   waiter behind and never costs a scan.
//! * A future dropped while *notified* received a wake-up it will never use. `WaitList::remove`
//!   reports that, and the primitive passes the wake-up on (rule S1): a lock or a permit is handed
//!   to the next waiter, a condition notifies the next waiter, a queue wakes the next getter so
//!   the item stays available (rule S2). Nothing is lost and nobody is skipped.
//!
//! The uncontended path never touches the list: an `acquire()` of a free lock, a `get()` of a
//! non-empty queue complete on their first poll without allocating. The slab reuses its slots,
//! so a contended steady state does not allocate either.
//!
//! Fairness is first-come first-served with no barging: a `Lock` or a `Semaphore` is *handed* to
//! the first waiter by `release()` (it stays taken in between, so a newcomer cannot overtake a
//! woken waiter that has not run yet), and the queues count the items or free slots already
//! promised to woken tasks before letting a newcomer through (`get_nowait` and `put_nowait`
//! excepted, as in asyncio).

mod barrier;
mod condition;
mod event;
mod lock;
mod queue;
mod semaphore;

use std::cell::RefCell;
use std::task::{Context, Poll, Waker};

use slab::Slab;

pub use barrier::{Barrier, BarrierWait, BrokenBarrierError};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use queue::{
    Fifo, GenericQueue, Lifo, LifoQueue, Order, Priority, PriorityQueue, Queue, QueueGet,
    QueueJoin, QueuePut, QueueShutDown, TryGetError, TryPutError,
};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreAcquire, SemaphorePermit};

/// "No node" in the links of the list.
const NIL: usize = usize::MAX;

struct Node {
    /// Taken (and woken) by `notify`; `None` once notified.
    waker: Option<Waker>,
    /// Set by `notify`; the node is then out of the linked list, only its owner holds its key.
    notified: bool,
    prev: usize,
    next: usize,
}

/// The FIFO of waiters shared by every primitive of this module (see the module docs).
#[derive(Default)]
pub(crate) struct WaitList {
    nodes: Slab<Node>,
    head: Option<usize>,
    tail: Option<usize>,
    /// Nodes in the linked list (waiting, not yet notified).
    waiting: usize,
    /// Nodes notified whose owner has neither polled nor dropped them yet.
    notified: usize,
}

impl WaitList {
    /// Waiters not yet notified.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Waiters notified that have not run yet: wake-ups in flight.
    pub(crate) fn notified(&self) -> usize {
        self.notified
    }

    /// Every waiter still inside its call, woken or not (asyncio's `len(_waiters)`).
    pub(crate) fn len(&self) -> usize {
        self.waiting + self.notified
    }

    fn link(&mut self, waker: &Waker, front: bool) -> usize {
        let key = self.nodes.insert(Node {
            waker: Some(waker.clone()),
            notified: false,
            prev: NIL,
            next: NIL,
        });
        if front {
            if let Some(h) = self.head {
                self.nodes[h].prev = key;
                self.nodes[key].next = h;
            } else {
                self.tail = Some(key);
            }
            self.head = Some(key);
        } else {
            if let Some(t) = self.tail {
                self.nodes[t].next = key;
                self.nodes[key].prev = t;
            } else {
                self.head = Some(key);
            }
            self.tail = Some(key);
        }
        self.waiting += 1;
        key
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = (self.nodes[key].prev, self.nodes[key].next);
        if prev == NIL {
            self.head = (next != NIL).then_some(next);
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = (prev != NIL).then_some(prev);
        } else {
            self.nodes[next].prev = prev;
        }
        self.waiting -= 1;
    }

    /// Marks the first waiting node notified and returns its waker (wake it once the list is no
    /// longer borrowed). `None` if nobody waits.
    pub(crate) fn notify_one(&mut self) -> Option<Waker> {
        let key = self.head?;
        self.unlink(key);
        self.notified += 1;
        let node = &mut self.nodes[key];
        node.notified = true;
        node.waker.take()
    }

    /// Frees `key`. True if it had been notified: the owner received a wake-up it did not use.
    fn remove(&mut self, key: usize) -> bool {
        if self.nodes[key].notified {
            self.notified -= 1;
        } else {
            self.unlink(key);
        }
        self.nodes.remove(key).notified
    }

    /// If `key` was notified, frees it and returns true; otherwise refreshes its waker.
    fn poll_key(&mut self, key: usize, waker: &Waker) -> bool {
        let node = &mut self.nodes[key];
        if node.notified {
            self.notified -= 1;
            self.nodes.remove(key);
            return true;
        }
        match &node.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => node.waker = Some(waker.clone()),
        }
        false
    }
}

/// Wakes the first waiter of `list`, if any: returns whether there was one.
pub(crate) fn notify_one(list: &RefCell<WaitList>) -> bool {
    let waker = list.borrow_mut().notify_one();
    match waker {
        Some(w) => {
            w.wake();
            true
        }
        None => false,
    }
}

/// Wakes up to `n` waiters of `list` in FIFO order; returns how many were woken.
pub(crate) fn notify(list: &RefCell<WaitList>, n: usize) -> usize {
    let mut woken = 0;
    while woken < n && notify_one(list) {
        woken += 1;
    }
    woken
}

/// A waiting future's place in a `WaitList`: empty, or the key of the node it owns.
#[derive(Debug, Default)]
pub(crate) struct Slot(Option<usize>);

impl Slot {
    /// True while the future owns a node (waiting or notified).
    pub(crate) fn is_queued(&self) -> bool {
        self.0.is_some()
    }

    /// Joins the back (or, for a waiter whose wake-up found nothing left, the front) of `list`.
    pub(crate) fn enqueue(&mut self, list: &RefCell<WaitList>, cx: &Context<'_>, front: bool) {
        debug_assert!(self.0.is_none());
        self.0 = Some(list.borrow_mut().link(cx.waker(), front));
    }

    /// For a queued future: `Ready` once notified (the wake-up is consumed and the slot is
    /// empty again), `Pending` otherwise. An empty slot is `Ready` at once.
    pub(crate) fn poll_notified(&mut self, list: &RefCell<WaitList>, cx: &Context<'_>) -> Poll<()> {
        match self.0 {
            Some(key) if !list.borrow_mut().poll_key(key, cx.waker()) => Poll::Pending,
            _ => {
                self.0 = None;
                Poll::Ready(())
            }
        }
    }

    /// Leaves the list (the future is dropped or done). True if the node had been notified: a
    /// wake-up was received and not used, and the caller must pass it on.
    pub(crate) fn leave(&mut self, list: &RefCell<WaitList>) -> bool {
        match self.0.take() {
            Some(key) => list.borrow_mut().remove(key),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn notify_is_fifo_and_removal_relinks() {
        let list = RefCell::new(WaitList::default());
        let mut slots: Vec<Slot> = (0..4).map(|_| Slot::default()).collect();
        for s in &mut slots {
            s.enqueue(&list, &cx(), false);
        }
        assert!(!slots[1].leave(&list), "a waiting node was never notified");
        assert!(notify_one(&list));
        assert!(slots[0].poll_notified(&list, &cx()).is_ready());
        assert!(slots[2].poll_notified(&list, &cx()).is_pending());
        let mut front = Slot::default();
        front.enqueue(&list, &cx(), true);
        assert_eq!(notify(&list, 10), 3);
        assert!(
            front.leave(&list),
            "front was notified first and never polled"
        );
        assert!(slots[2].poll_notified(&list, &cx()).is_ready());
        assert!(slots[3].leave(&list));
        let l = list.borrow();
        assert_eq!((l.waiting(), l.notified(), l.nodes.len()), (0, 0, 0));
        assert_eq!((l.head, l.tail), (None, None));
    }
}
