//! [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: asyncio's queues, one engine with three
//! orders.
//!
//! Three wait lists: getters (waiting for an item), putters (waiting for a free slot in a
//! bounded queue) and joiners (waiting for `task_done` to bring the unfinished count to 0).
//! A `put` wakes the first getter and a `get` the first putter. A woken task has been promised
//! the item (or the slot): `get()` and `put()` of a newcomer count the promises before taking
//! anything, so they never overtake a woken task (no barging). `get_nowait` and `put_nowait`
//! behave as asyncio's and do not look at the promises; a woken task that finds its item taken
//! by one of them goes back to the *front* of the line. A woken task that is dropped before it
//! runs wakes the next one in its place (rules S1, S2).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{notify, notify_one, Slot, WaitList};

/// The order in which a [`GenericQueue`] gives its items back: [`Fifo`], [`Lifo`] or
/// [`Priority`]. Sealed: the three are all there is.
///
/// # Examples
///
/// ```
/// use asyncio::sync::{GenericQueue, Lifo, Order};
///
/// fn first_out<T, O: Order<T>>(q: &GenericQueue<T, O>) -> Option<T> {
///     q.get_nowait().ok()
/// }
/// let q: GenericQueue<i32, Lifo> = GenericQueue::new(0);
/// q.put_nowait(1).unwrap();
/// q.put_nowait(2).unwrap();
/// assert_eq!(first_out(&q), Some(2));
/// ```
pub trait Order<T>: sealed::Sealed {
    /// Where the items are kept.
    #[doc(hidden)]
    type Buffer: Default;
    #[doc(hidden)]
    fn push(buffer: &mut Self::Buffer, item: T);
    #[doc(hidden)]
    fn pop(buffer: &mut Self::Buffer) -> Option<T>;
    #[doc(hidden)]
    fn len(buffer: &Self::Buffer) -> usize;
    #[doc(hidden)]
    fn clear(buffer: &mut Self::Buffer);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Fifo {}
    impl Sealed for super::Lifo {}
    impl Sealed for super::Priority {}
}

/// First in, first out: the order of [`Queue`].
///
/// # Examples
///
/// ```
/// let q: asyncio::sync::GenericQueue<u8, asyncio::sync::Fifo> = asyncio::sync::Queue::new(0);
/// assert!(q.empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Fifo;

/// Last in, first out: the order of [`LifoQueue`].
///
/// # Examples
///
/// ```
/// let q: asyncio::sync::GenericQueue<u8, asyncio::sync::Lifo> = asyncio::sync::LifoQueue::new(0);
/// assert!(q.empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifo;

/// Smallest first (by `Ord`), as Python's `heapq`: the order of [`PriorityQueue`]. Equal items
/// come out in no particular order.
///
/// # Examples
///
/// ```
/// let q: asyncio::sync::GenericQueue<u8, asyncio::sync::Priority> =
///     asyncio::sync::PriorityQueue::new(0);
/// assert!(q.empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Priority;

impl<T> Order<T> for Fifo {
    type Buffer = VecDeque<T>;
    fn push(b: &mut VecDeque<T>, item: T) {
        b.push_back(item);
    }
    fn pop(b: &mut VecDeque<T>) -> Option<T> {
        b.pop_front()
    }
    fn len(b: &VecDeque<T>) -> usize {
        b.len()
    }
    fn clear(b: &mut VecDeque<T>) {
        b.clear();
    }
}

impl<T> Order<T> for Lifo {
    type Buffer = Vec<T>;
    fn push(b: &mut Vec<T>, item: T) {
        b.push(item);
    }
    fn pop(b: &mut Vec<T>) -> Option<T> {
        b.pop()
    }
    fn len(b: &Vec<T>) -> usize {
        b.len()
    }
    fn clear(b: &mut Vec<T>) {
        b.clear();
    }
}

impl<T: Ord> Order<T> for Priority {
    type Buffer = BinaryHeap<Reverse<T>>;
    fn push(b: &mut BinaryHeap<Reverse<T>>, item: T) {
        b.push(Reverse(item));
    }
    fn pop(b: &mut BinaryHeap<Reverse<T>>) -> Option<T> {
        b.pop().map(|Reverse(item)| item)
    }
    fn len(b: &BinaryHeap<Reverse<T>>) -> usize {
        b.len()
    }
    fn clear(b: &mut BinaryHeap<Reverse<T>>) {
        b.clear();
    }
}

/// A first-in first-out queue: `asyncio.Queue`. All methods are on [`GenericQueue`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, spawn, sync::Queue};
/// use std::rc::Rc;
///
/// run(async {
///     let q = Rc::new(Queue::new(2)); // at most 2 items; 0 would mean unbounded
///     let producer = {
///         let q = q.clone();
///         spawn(async move {
///             for i in 0..5 {
///                 q.put(i).await.unwrap(); // waits while the queue is full
///             }
///         })
///     };
///     let mut got = Vec::new();
///     for _ in 0..5 {
///         got.push(q.get().await.unwrap());
///     }
///     producer.await.unwrap();
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// });
/// ```
pub type Queue<T> = GenericQueue<T, Fifo>;

/// A last-in first-out queue (a stack): `asyncio.LifoQueue`.
///
/// # Examples
///
/// ```
/// let q = asyncio::sync::LifoQueue::new(0);
/// for i in [1, 3, 2] {
///     q.put_nowait(i).unwrap();
/// }
/// let out: Vec<i32> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
/// assert_eq!(out, [2, 3, 1]);
/// ```
pub type LifoQueue<T> = GenericQueue<T, Lifo>;

/// A queue that gives back its smallest item first: `asyncio.PriorityQueue`. Use a tuple
/// `(priority, data)` for prioritised data, as in Python.
///
/// # Examples
///
/// ```
/// let q = asyncio::sync::PriorityQueue::new(0);
/// for i in [1, 3, 2] {
///     q.put_nowait(i).unwrap();
/// }
/// let out: Vec<i32> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
/// assert_eq!(out, [1, 2, 3]);
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Priority>;

/// The engine behind [`Queue`], [`LifoQueue`] and [`PriorityQueue`]; `O` is the [`Order`].
///
/// Bounded by `maxsize` items, or unbounded when `maxsize` is 0, as in asyncio. Each `put` adds
/// one unfinished task; [`task_done`](GenericQueue::task_done) finishes one, and
/// [`join`](GenericQueue::join) waits until none is left. [`shutdown`](GenericQueue::shutdown)
/// closes the queue (Python 3.13).
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::Queue};
///
/// run(async {
///     let q = Queue::new(0);
///     q.put("job").await.unwrap();
///     let job = q.get().await.unwrap();
///     assert_eq!(job, "job");
///     q.task_done();
///     q.join().await; // every job is done
/// });
/// ```
pub struct GenericQueue<T, O: Order<T>> {
    items: RefCell<O::Buffer>,
    maxsize: usize,
    getters: RefCell<WaitList>,
    putters: RefCell<WaitList>,
    joiners: RefCell<WaitList>,
    unfinished: Cell<usize>,
    shut_down: Cell<bool>,
}

impl<T, O: Order<T>> GenericQueue<T, O> {
    /// A queue of at most `maxsize` items; `maxsize == 0` means unbounded (asyncio's default).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::sync::Queue;
    ///
    /// let unbounded: Queue<u8> = Queue::new(0);
    /// assert!(!unbounded.full());
    /// let one = Queue::new(1);
    /// one.put_nowait(1).unwrap();
    /// assert!(one.full());
    /// ```
    pub fn new(maxsize: usize) -> GenericQueue<T, O> {
        GenericQueue {
            items: RefCell::default(),
            maxsize,
            getters: RefCell::default(),
            putters: RefCell::default(),
            joiners: RefCell::default(),
            unfinished: Cell::new(0),
            shut_down: Cell::new(false),
        }
    }

    /// The capacity given to [`new`](GenericQueue::new) (0: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Queue::<u8>::new(5).maxsize(), 5);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// The number of items in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = asyncio::sync::Queue::new(0);
    /// q.put_nowait('a').unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        O::len(&self.items.borrow())
    }

    /// True if the queue holds no item.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(asyncio::sync::Queue::<u8>::new(0).empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True if the queue holds `maxsize` items; never for an unbounded queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = asyncio::sync::Queue::new(1);
    /// q.put_nowait(()).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }

    /// True once [`shutdown`](GenericQueue::shutdown) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = asyncio::sync::Queue::<u8>::new(0);
    /// q.shutdown(false);
    /// assert!(q.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.get()
    }

    /// Tasks inside `get()`, woken or not (asyncio's private `_getters`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Queue::<u8>::new(0).waiting_getters(), 0);
    /// ```
    pub fn waiting_getters(&self) -> usize {
        self.getters.borrow().len()
    }

    /// Tasks inside `put()` waiting for a free slot, woken or not.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(asyncio::sync::Queue::<u8>::new(1).waiting_putters(), 0);
    /// ```
    pub fn waiting_putters(&self) -> usize {
        self.putters.borrow().len()
    }

    /// Puts `item` in the queue, waiting while it is full. Dropping the future before it
    /// completes drops the item: it is never inserted.
    ///
    /// # Errors
    ///
    /// [`QueueShutDown`] holding `item` back, if the queue is shut down (before or while the
    /// put waits).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Queue};
    ///
    /// run(async {
    ///     let q = Queue::new(0);
    ///     q.put(7).await.unwrap();
    ///     assert_eq!(q.get_nowait(), Ok(7));
    /// });
    /// ```
    pub fn put(&self, item: T) -> QueuePut<'_, T, O> {
        QueuePut {
            queue: self,
            item: Some(item),
            slot: Slot::default(),
        }
    }

    /// Puts `item` in the queue if there is room, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] (asyncio's `QueueFull`) or [`TryPutError::ShutDown`], each holding
    /// `item` back.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::sync::{Queue, TryPutError};
    ///
    /// let q = Queue::new(1);
    /// assert_eq!(q.put_nowait(1), Ok(()));
    /// assert_eq!(q.put_nowait(2), Err(TryPutError::Full(2)));
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        if self.shut_down.get() {
            return Err(TryPutError::ShutDown(item));
        }
        if self.full() {
            return Err(TryPutError::Full(item));
        }
        self.push(item);
        Ok(())
    }

    /// Takes an item, waiting while the queue is empty. Dropping the future before it
    /// completes loses nothing: an item it was woken for goes to the next getter (rule S2).
    ///
    /// # Errors
    ///
    /// [`QueueShutDown`] if the queue is shut down and empty (before or while the get waits).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, spawn, sync::Queue};
    /// use std::rc::Rc;
    ///
    /// run(async {
    ///     let q = Rc::new(Queue::new(0));
    ///     let q2 = q.clone();
    ///     spawn(async move { q2.put_nowait("hello").unwrap() });
    ///     assert_eq!(q.get().await, Ok("hello"));
    /// });
    /// ```
    pub fn get(&self) -> QueueGet<'_, T, O> {
        QueueGet {
            queue: self,
            slot: Slot::default(),
        }
    }

    /// Takes an item if there is one, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] (asyncio's `QueueEmpty`), or [`TryGetError::ShutDown`] if the
    /// queue is empty and shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::sync::{Queue, TryGetError};
    ///
    /// let q = Queue::new(0);
    /// assert_eq!(q.get_nowait(), Err::<u8, _>(TryGetError::Empty));
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// ```
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        match self.pop() {
            Some(item) => Ok(item),
            None if self.shut_down.get() => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    /// Marks one item taken with `get` as processed; when every item put has been processed,
    /// [`join`](GenericQueue::join) returns.
    ///
    /// # Panics
    ///
    /// If called more times than items were put ("task_done() called more times than items
    /// were put in the queue"), as asyncio raises `ValueError`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = asyncio::sync::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// q.task_done();
    /// let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.task_done()));
    /// assert!(again.is_err(), "one task_done() too many");
    /// ```
    pub fn task_done(&self) {
        let n = self.unfinished.get();
        assert!(
            n > 0,
            "task_done() called more times than items were put in the queue"
        );
        self.unfinished.set(n - 1);
        if n == 1 {
            notify(&self.joiners, usize::MAX);
        }
    }

    /// Items put and not yet marked done with [`task_done`](GenericQueue::task_done).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = asyncio::sync::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.unfinished.get()
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](GenericQueue::task_done); at once if there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::Queue};
    ///
    /// run(async {
    ///     let q = Queue::<u8>::new(0);
    ///     q.join().await; // nothing was put
    /// });
    /// ```
    pub fn join(&self) -> QueueJoin<'_, T, O> {
        QueueJoin {
            queue: self,
            slot: Slot::default(),
        }
    }

    /// Closes the queue (Python 3.13's `Queue.shutdown`): later puts fail with
    /// [`QueueShutDown`], and so do gets once the queue is empty; every waiting putter and
    /// getter is woken to see it. With `immediate`, the items left are dropped (each counted as
    /// done for [`join`](GenericQueue::join)) and gets fail at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{run, sync::{Queue, QueueShutDown}};
    ///
    /// run(async {
    ///     let q = Queue::new(0);
    ///     q.put_nowait(1).unwrap();
    ///     q.shutdown(false);
    ///     assert_eq!(q.get().await, Ok(1)); // what is left can still be taken
    ///     assert_eq!(q.get().await, Err(QueueShutDown(())));
    ///     assert_eq!(q.put(2).await, Err(QueueShutDown(2)));
    /// });
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        self.shut_down.set(true);
        if immediate {
            let dropped = {
                let mut items = self.items.borrow_mut();
                let n = O::len(&items);
                // Moved out first: an item's Drop may touch this queue.
                let old = std::mem::take(&mut *items);
                drop(items);
                drop(old);
                n
            };
            let unfinished = self.unfinished.get().saturating_sub(dropped);
            self.unfinished.set(unfinished);
            if unfinished == 0 {
                notify(&self.joiners, usize::MAX);
            }
        }
        notify(&self.getters, usize::MAX);
        notify(&self.putters, usize::MAX);
    }

    /// Adds an item (room was checked) and wakes the first getter.
    fn push(&self, item: T) {
        O::push(&mut self.items.borrow_mut(), item);
        self.unfinished.set(self.unfinished.get() + 1);
        notify_one(&self.getters);
    }

    /// Takes an item, if any, and wakes the first putter for the freed slot. The last item of a
    /// shut-down queue wakes every getter still queued, to fail.
    fn pop(&self) -> Option<T> {
        let item = O::pop(&mut self.items.borrow_mut())?;
        notify_one(&self.putters);
        if self.shut_down.get() && self.empty() {
            notify(&self.getters, usize::MAX);
        }
        Some(item)
    }
}

impl<T, O: Order<T>> fmt::Debug for GenericQueue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .field("getters", &self.waiting_getters())
            .field("putters", &self.waiting_putters())
            .field("unfinished", &self.unfinished.get())
            .field("shut_down", &self.shut_down.get())
            .finish()
    }
}

/// The future returned by [`GenericQueue::put`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Fifo, Queue, QueuePut}};
///
/// run(async {
///     let q = Queue::new(0);
///     let put: QueuePut<'_, i32, Fifo> = q.put(1);
///     put.await.unwrap();
/// });
/// ```
#[must_use = "nothing is put unless the future is awaited"]
pub struct QueuePut<'a, T, O: Order<T>> {
    queue: &'a GenericQueue<T, O>,
    item: Option<T>,
    slot: Slot,
}

impl<T, O: Order<T>> Unpin for QueuePut<'_, T, O> {}

impl<T, O: Order<T>> Future for QueuePut<'_, T, O> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let q = this.queue;
        let woken = this.slot.is_queued();
        if this.slot.poll_notified(&q.putters, cx).is_pending() {
            return Poll::Pending;
        }
        let item = this.item.take().expect("QueuePut polled after completion");
        if q.shut_down.get() {
            return Poll::Ready(Err(QueueShutDown(item)));
        }
        let has_room = if woken {
            !q.full()
        } else {
            // A newcomer queues behind waiting putters and the slots promised to woken ones.
            let putters = q.putters.borrow();
            putters.waiting() == 0 && (q.maxsize == 0 || q.qsize() + putters.notified() < q.maxsize)
        };
        if has_room {
            q.push(item);
            return Poll::Ready(Ok(()));
        }
        this.item = Some(item);
        // A woken putter whose slot was taken by put_nowait keeps its place at the front.
        this.slot.enqueue(&q.putters, cx, woken);
        Poll::Pending
    }
}

impl<T, O: Order<T>> Drop for QueuePut<'_, T, O> {
    fn drop(&mut self) {
        if self.slot.leave(&self.queue.putters) {
            // Woken for a free slot and dropped: the next putter gets the slot (S1).
            notify_one(&self.queue.putters);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for QueuePut<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuePut")
            .field("queued", &self.slot.is_queued())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`GenericQueue::get`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Fifo, Queue, QueueGet}};
///
/// run(async {
///     let q = Queue::new(0);
///     q.put_nowait(1).unwrap();
///     let get: QueueGet<'_, i32, Fifo> = q.get();
///     assert_eq!(get.await, Ok(1));
/// });
/// ```
#[must_use = "nothing is taken unless the future is awaited"]
pub struct QueueGet<'a, T, O: Order<T>> {
    queue: &'a GenericQueue<T, O>,
    slot: Slot,
}

impl<T, O: Order<T>> Future for QueueGet<'_, T, O> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let q = this.queue;
        let woken = this.slot.is_queued();
        if this.slot.poll_notified(&q.getters, cx).is_pending() {
            return Poll::Pending;
        }
        let may_take = woken || {
            // A newcomer queues behind waiting getters and the items promised to woken ones.
            let getters = q.getters.borrow();
            getters.waiting() == 0 && q.qsize() > getters.notified()
        };
        if may_take {
            if let Some(item) = q.pop() {
                return Poll::Ready(Ok(item));
            }
        }
        if q.shut_down.get() && q.empty() {
            return Poll::Ready(Err(QueueShutDown(())));
        }
        // A woken getter whose item was taken by get_nowait keeps its place at the front.
        this.slot.enqueue(&q.getters, cx, woken);
        Poll::Pending
    }
}

impl<T, O: Order<T>> Drop for QueueGet<'_, T, O> {
    fn drop(&mut self) {
        if self.slot.leave(&self.queue.getters) {
            // Woken for an item and dropped: the item stays and the next getter gets it (S2).
            notify_one(&self.queue.getters);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for QueueGet<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet")
            .field("queued", &self.slot.is_queued())
            .finish_non_exhaustive()
    }
}

/// The future returned by [`GenericQueue::join`].
///
/// # Examples
///
/// ```
/// use asyncio::{run, sync::{Fifo, Queue, QueueJoin}};
///
/// run(async {
///     let q = Queue::<u8>::new(0);
///     let j: QueueJoin<'_, u8, Fifo> = q.join();
///     j.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, T, O: Order<T>> {
    queue: &'a GenericQueue<T, O>,
    slot: Slot,
}

impl<T, O: Order<T>> Future for QueueJoin<'_, T, O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.slot.is_queued() {
            // Woken when the count reached 0: done, even if new items came in since.
            return this.slot.poll_notified(&this.queue.joiners, cx);
        }
        if this.queue.unfinished.get() == 0 {
            return Poll::Ready(());
        }
        this.slot.enqueue(&this.queue.joiners, cx, false);
        Poll::Pending
    }
}

impl<T, O: Order<T>> Drop for QueueJoin<'_, T, O> {
    fn drop(&mut self) {
        self.slot.leave(&self.queue.joiners);
    }
}

impl<T, O: Order<T>> fmt::Debug for QueueJoin<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin")
            .field("queued", &self.slot.is_queued())
            .finish_non_exhaustive()
    }
}

/// The queue was shut down: asyncio's `QueueShutDown`. From `put`, it holds the item that was
/// not put; from `get`, `()`.
///
/// # Examples
///
/// ```
/// use asyncio::sync::{Queue, QueueShutDown};
///
/// let q = Queue::<u8>::new(0);
/// q.shutdown(false);
/// let err: QueueShutDown = QueueShutDown(());
/// assert!(err.to_string().contains("shut down"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down: no more items can be put, and it has none left")
    }
}

impl<T> Error for QueueShutDown<T> {}

/// Why [`GenericQueue::get_nowait`] returned no item.
///
/// # Examples
///
/// ```
/// use asyncio::sync::{Queue, TryGetError};
///
/// let q = Queue::<u8>::new(0);
/// assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
/// q.shutdown(false);
/// assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryGetError {
    /// The queue is empty: asyncio's `QueueEmpty`. `get().await` would wait.
    Empty,
    /// The queue is empty and shut down: asyncio's `QueueShutDown`.
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryGetError::Empty => "the queue is empty; await get() to wait for an item",
            TryGetError::ShutDown => "the queue is shut down and has no items left",
        })
    }
}

impl Error for TryGetError {}

/// Why [`GenericQueue::put_nowait`] did not put its item; each variant gives the item back.
///
/// # Examples
///
/// ```
/// use asyncio::sync::{Queue, TryPutError};
///
/// let q = Queue::new(1);
/// q.put_nowait(1).unwrap();
/// match q.put_nowait(2) {
///     Err(TryPutError::Full(item)) => assert_eq!(item, 2),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The queue holds `maxsize` items: asyncio's `QueueFull`. `put().await` would wait.
    Full(T),
    /// The queue is shut down: asyncio's `QueueShutDown`.
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::sync::TryPutError;
    /// assert_eq!(TryPutError::Full(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(t) | TryPutError::ShutDown(t) => t,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "Full(..)",
            TryPutError::ShutDown(_) => "ShutDown(..)",
        })
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutError::Full(_) => "the queue is full; await put() to wait for room",
            TryPutError::ShutDown(_) => "the queue is shut down; nothing more can be put",
        })
    }
}

impl<T> Error for TryPutError<T> {}
