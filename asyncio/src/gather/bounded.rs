//! Bounded gathers: at most `limit` children running at once, started lazily from an iterator,
//! results still in input order (no anchor runtime has this ordered).
//!
//! The gather's state is the ordinary [`GatherState`]; only its children differ. [`Bounded`]
//! holds the slots of the children started so far and the rest of the iterator. It starts the
//! first `limit` when the gather is made (G1 for the children that fit), and one more each time a
//! child finishes while the gather is still collecting (not decided, cancelled or failing). So
//! however long the iterator, at most `limit` of the tasks it starts exist at once; the results
//! are O(N), as the output `Vec` must be. The iterator is user code: it runs with no borrow of the
//! gather held, and a panic in it becomes the outcome of the child it was making.

use std::cell::RefCell;
use std::iter::Peekable;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;

use super::{cancel_tree, Children, Gather, GatherState, IntoChild, Kind, Node, Plain, Slot, Try};
use crate::error::{Panic, TaskError};
use crate::runtime::{self, Entry, Listener};

/// The children of a bounded gather.
pub(crate) struct Bounded<I: Iterator, M>
where
    I::Item: IntoChild<M>,
{
    slots: Vec<Slot<<I::Item as IntoChild<M>>::Child>>,
    /// The children not started yet; `None` once exhausted or stopped, and while `next()` runs.
    rest: Option<Peekable<I>>,
    /// Set by a cancel: start nothing more, even a child being made as it came.
    stopped: bool,
    /// The iterator is out of `rest`, making a child.
    making: bool,
    /// A panic of the iterator while peeking at its first item, made into that child's outcome.
    broken: Option<Panic>,
    limit: usize,
    running: usize,
    /// Where `gather_limited` was called: the spawn location of every child it starts.
    location: &'static Location<'static>,
    marker: PhantomData<fn() -> M>,
}

/// Makes the next child with no borrow of the gather held: the iterator is user code, and may
/// even cancel the gather it feeds. A panic in it becomes the outcome of the child it was making.
fn make_next<I, M>(
    cell: &RefCell<Bounded<I, M>>,
) -> Option<Result<<I::Item as IntoChild<M>>::Child, Panic>>
where
    I: Iterator,
    I::Item: IntoChild<M>,
{
    let (mut rest, at) = {
        let mut b = cell.borrow_mut();
        if let Some(p) = b.broken.take() {
            b.rest = None;
            return Some(Err(p));
        }
        if b.stopped || b.running >= b.limit {
            return None;
        }
        let rest = b.rest.take()?;
        b.making = true;
        (rest, b.location)
    };
    let made = catch_unwind(AssertUnwindSafe(|| {
        rest.next().map(|c| c.into_child_at(at))
    }));
    let mut b = cell.borrow_mut();
    b.making = false;
    match made {
        Ok(Some(child)) => {
            if !b.stopped {
                b.rest = Some(rest);
            }
            Some(Ok(child))
        }
        Ok(None) => None,
        Err(payload) => Some(Err(Panic::from_payload(payload))),
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
        let Some(rest) = self.rest.as_mut() else {
            return false;
        };
        match catch_unwind(AssertUnwindSafe(|| rest.peek().is_some())) {
            Ok(any) => any,
            Err(payload) => {
                self.broken = Some(Panic::from_payload(payload));
                true
            }
        }
    }
    fn attach(&mut self, _: &Rc<dyn Listener>) {
        // Nothing is started yet: `refill` starts the first `limit` children.
    }
    const LAZY: bool = true;
    fn refill(cell: &RefCell<Self>, listener: &Rc<dyn Listener>) -> usize {
        let mut started = 0;
        while let Some(made) = make_next(cell) {
            let mut b = cell.borrow_mut();
            let index = u32::try_from(b.slots.len()).unwrap_or_else(|_| {
                panic!("a bounded gather can hold at most {} children", u32::MAX)
            });
            let mut slot = match made {
                Ok(child) => Slot::Pending(child),
                Err(panic) => {
                    b.rest = None;
                    runtime::current_core("gather_limited()")
                        .push(Entry::notify(listener.clone(), index));
                    Slot::Broken(panic)
                }
            };
            slot.attach(listener.clone(), index);
            if b.stopped {
                // The iterator cancelled the gather while making this child: cancel it too.
                let mut found = Vec::new();
                slot.cancel(&mut found);
                drop(b);
                found.into_iter().for_each(|node| {
                    cancel_tree(node, true);
                });
                b = cell.borrow_mut();
            }
            b.slots.push(slot);
            b.running += 1;
            started += 1;
        }
        started
    }
    fn complete(&mut self, index: usize) -> Kind {
        self.running -= 1;
        self.slots[index].complete()
    }
    fn cancel_all(&mut self, found: &mut Vec<Rc<dyn Node>>) -> bool {
        // What has not started never will: that counts as accepting the cancellation (G7). The
        // iterator is not asked whether it has more (that would run user code, and make one).
        self.stopped = true;
        let unstarted = self.rest.take().is_some() || self.making;
        self.slots.cancel_all(found) | unstarted
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
        stopped: false,
        making: false,
        broken: None,
        limit,
        running: 0,
        location: Location::caller(),
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
/// `gather`. Once the gather is decided by a failure, or cancelled, no more children are started
/// (cancelling counts as accepted while any are left to start); [`len`](Gather::len) counts the
/// children started so far. A panic in the iterator itself becomes the outcome of the child it
/// was making.
///
/// The limit bounds the futures the gather turns into tasks. A [`Task`](crate::Task) (or
/// `Gather`) yielded by the iterator is already running: it is adopted when its turn comes, and
/// if the gather is cancelled or fails first it is never adopted and runs on detached, as any
/// handle dropped unawaited does (L3). To bound the work, yield futures.
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
