//! Bounded gathers: at most `limit` children running at once, started lazily from an iterator,
//! results still in input order (no anchor runtime has this ordered).
//!
//! The gather's state is the ordinary [`GatherState`]; only its children differ. [`Bounded`]
//! holds the slots of the children started so far and the rest of the iterator. It starts the
//! first `limit` when the gather is made (G1 for the children that fit), and one more each time a
//! child finishes while the gather is still collecting (not decided, cancelled or failing). So
//! however long the iterator, at most `limit` tasks exist at once; the results are O(N), as the
//! output `Vec` must be.

use std::iter::Peekable;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use super::{Children, Gather, GatherState, IntoChild, Kind, Node, Plain, Slot, Try};
use crate::error::{Panic, TaskError};
use crate::runtime::{self, Entry, Listener};

/// The children of a bounded gather.
pub(crate) struct Bounded<I: Iterator, M>
where
    I::Item: IntoChild<M>,
{
    slots: Vec<Slot<<I::Item as IntoChild<M>>::Child>>,
    /// The children not started yet; `None` once exhausted or stopped.
    rest: Option<Peekable<I>>,
    limit: usize,
    running: usize,
    marker: PhantomData<fn() -> M>,
}

impl<I, M> Bounded<I, M>
where
    I: Iterator + 'static,
    I::Item: IntoChild<M>,
    M: 'static,
{
    /// Starts children until `limit` run or the iterator ends; returns how many it started.
    fn fill(&mut self, listener: &Rc<dyn Listener>) -> usize {
        let mut started = 0;
        while self.running < self.limit {
            let Some(rest) = self.rest.as_mut() else {
                break;
            };
            let index = u32::try_from(self.slots.len()).unwrap_or_else(|_| {
                panic!("a bounded gather can hold at most {} children", u32::MAX)
            });
            // The iterator is user code, run here on the loop when a child finishes: a panic in
            // it becomes the outcome of the child it failed to make, and stops the gather from
            // starting more.
            match catch_unwind(AssertUnwindSafe(|| rest.next().map(IntoChild::into_child))) {
                Ok(Some(child)) => {
                    let mut slot = Slot::Pending(child);
                    slot.attach(listener.clone(), index);
                    self.slots.push(slot);
                }
                Ok(None) => {
                    self.rest = None;
                    break;
                }
                Err(payload) => {
                    self.rest = None;
                    self.slots.push(Slot::Broken(Panic::from_payload(payload)));
                    runtime::current_core("gather_limited()")
                        .push(Entry::Notify(listener.clone(), index));
                }
            }
            self.running += 1;
            started += 1;
        }
        started
    }
}

impl<I, M> Children for Bounded<I, M>
where
    I: Iterator + 'static,
    I::Item: IntoChild<M>,
    M: 'static,
{
    type Values = Vec<<I::Item as IntoChild<M>>::Output>;
    type Slots = <Vec<Slot<<I::Item as IntoChild<M>>::Child>> as Children>::Slots;
    type Error = <I::Item as IntoChild<M>>::Error;

    fn len(&self) -> usize {
        self.slots.len()
    }
    fn has_children(&mut self) -> bool {
        self.rest.as_mut().is_some_and(|r| r.peek().is_some())
    }
    fn attach(&mut self, listener: &Rc<dyn Listener>) {
        self.fill(listener);
    }
    fn refill(&mut self, listener: &Rc<dyn Listener>) -> usize {
        self.fill(listener)
    }
    fn complete(&mut self, index: usize) -> Kind {
        self.running -= 1;
        self.slots[index].complete()
    }
    fn cancel_all(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool {
        self.rest = None; // what has not started never will
        self.slots.cancel_all(found)
    }
    fn take_error(&mut self, index: usize) -> TaskError<Self::Error> {
        self.slots.take_error(index)
    }
    fn take_values(&mut self) -> Self::Values {
        self.slots.take_values()
    }
    fn take_slots(&mut self) -> Self::Slots {
        self.slots.take_slots()
    }
}

#[track_caller]
fn start<M, I>(limit: usize, children: I) -> BoundedGather<I::IntoIter, M>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: IntoChild<M>,
    M: 'static,
{
    assert!(
        limit > 0,
        "gather_limited(0, ..) would never start a child: the limit must be at least 1"
    );
    GatherState::start(Bounded {
        slots: Vec::new(),
        rest: Some(children.into_iter().peekable()),
        limit,
        running: 0,
        marker: PhantomData,
    })
}

/// The gather of a bounded iterator of children.
type BoundedGather<I, M> = Gather<
    Vec<<<I as Iterator>::Item as IntoChild<M>>::Output>,
    <<I as Iterator>::Item as IntoChild<M>>::Error,
>;

/// [`gather`](fn@crate::gather) with at most `limit` children running at once: the iterator is
/// consumed lazily — the first `limit` children start now, and one more each time one finishes —
/// and the results still come back in input order. A gather over ten million items thus holds at
/// most `limit` tasks at a time (and the results).
///
/// It is an ordinary [`Gather`]: [`return_exceptions`](Gather::return_exceptions),
/// [`cancel_on_error`](Gather::cancel_on_error), `cancel`, nesting and awaiting work as for
/// `gather`. Once the gather is decided by a failure, or cancelled, no more children are started;
/// [`len`](Gather::len) counts the children started so far. A panic in the iterator itself becomes
/// the outcome of the child it was making.
///
/// # Panics
/// When `limit` is 0; outside a running event loop when there is a child to start.
///
/// # Examples
///
/// ```
/// use asyncio::{gather_limited, run, yield_now};
/// use std::{cell::Cell, rc::Rc};
///
/// run(async {
///     let running = Rc::new(Cell::new(0));
///     let peak = Rc::new(Cell::new(0));
///     let (r, p) = (running.clone(), peak.clone());
///     let jobs = (0..100u64).map(move |i| { // the iterator is kept: it must be 'static
///         let (running, peak) = (r.clone(), p.clone());
///         async move {
///             running.set(running.get() + 1);
///             peak.set(peak.get().max(running.get()));
///             yield_now().await;
///             running.set(running.get() - 1);
///             i * i
///         }
///     });
///     let squares = gather_limited(8, jobs).await.unwrap();
///     assert_eq!(squares, (0..100).map(|i| i * i).collect::<Vec<_>>());
///     assert_eq!(peak.get(), 8, "never more than 8 at once");
/// });
/// ```
#[track_caller]
pub fn gather_limited<I>(limit: usize, children: I) -> BoundedGather<I::IntoIter, Plain>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: IntoChild<Plain>,
{
    start(limit, children)
}

/// [`try_gather`](fn@crate::try_gather) with at most `limit` children running at once, as
/// [`gather_limited`]: children return `Result<T, E>`, and the first `Err` decides the gather
/// (no more children are started after it).
///
/// # Panics
/// As [`gather_limited`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, try_gather_limited, TaskError};
///
/// run(async {
///     let parsed = try_gather_limited(2, ["1", "2", "x", "4"].map(|s| async move {
///         s.parse::<u8>()
///     }));
///     assert!(matches!(parsed.await, Err(TaskError::Failed(_))));
/// });
/// ```
#[track_caller]
pub fn try_gather_limited<I, T, E>(limit: usize, children: I) -> BoundedGather<I::IntoIter, Try<E>>
where
    I: IntoIterator,
    I::IntoIter: 'static,
    I::Item: IntoChild<Try<E>, Output = T, Error = E>,
    E: 'static,
{
    start(limit, children)
}
