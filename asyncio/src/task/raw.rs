//! A task's one allocation, its reference count and its waker.
//!
//! # Layout
//! A task is one heap block (from mimalloc: see `blocks`), a [`Cell`]: the [`Header`] first (so a `NonNull<Header>` is the
//! task's address), then a union of the running [`Body`] (the wrapped future, while it lives) and
//! its output (from completion until the handle takes or drops it). The [`VTable`] in the header
//! holds the functions that know the future's and the output's types.
//!
//! # The state word (`Header::state`, the only part other threads touch)
//! - `SCHEDULED`: the task sits on a run queue (the loop's own or the injection queue), exactly
//!   once. The queue entry, a [`Scheduled`], owns this bit as if it were a reference.
//! - `COMPLETE`: the body has finished (its future dropped, any cancellation drain over); wakes
//!   do nothing.
//! - the rest counts references: the handle, each waker, and the future while it lives.
//!
//! The block is freed when no reference is left and `SCHEDULED` is clear. Since the future keeps
//! a reference until it completes, that happens only after completion, so a block is never freed
//! with a future in it; and as the output is taken or dropped by the handle or at completion, on
//! the loop thread, a block freed by another thread (the last waker dropped there) holds nothing
//! but its header, whose `!Send` parts are empty by then (see [`Header`]).
//!
//! Compared with async-task, which this replaces: no schedule closure and no `Arc` per task (a
//! wake finds its loop through the thread-local running loop, or from another thread through a
//! global table of loops by id), the registry keeps a plain pointer instead of a waker, and the
//! handle's awaiter lives in our header, so a spawn_yield child costs one block of 64 bytes
//! (48 of header, 16 of body) where async-task's was 176.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::Header;
use crate::runtime::{self, Core};

const SCHEDULED: u32 = 1;
const COMPLETE: u32 = 2;
const REF: u32 = 4;

/// The future a task runs: the user's future wrapped with cancellation, panic capture and the
/// completion bookkeeping, polled with the task's header and loop at hand.
pub(super) trait Body {
    type Output;

    /// Polls on the loop thread; `task` is the task's own pointer (`header` borrows from it).
    /// On `Ready`, the user's future has been dropped already.
    fn poll(
        self: Pin<&mut Self>,
        task: NonNull<Header>,
        header: &Header,
        core: &Core,
        cx: &mut Context<'_>,
    ) -> Poll<Self::Output>;
}

/// The functions that know a task's types.
pub(super) struct VTable {
    /// Polls the body; true when it completed (its output is then stored or dropped).
    poll: unsafe fn(NonNull<Header>, &Core, &Waker) -> bool,
    /// Where the output is (valid only while `Header` says it is stored).
    output: unsafe fn(NonNull<Header>) -> *mut (),
    /// Frees the block: drops the header, not the body.
    dealloc: unsafe fn(NonNull<Header>),
}

#[repr(C)]
struct Cell<B: Body> {
    header: Header,
    body: UnsafeCell<Slot<B>>,
}

#[repr(C)]
union Slot<B: Body> {
    running: ManuallyDrop<B>,
    output: ManuallyDrop<B::Output>,
}

struct Vt<B>(B);

impl<B: Body> Vt<B> {
    const VTABLE: VTable = VTable {
        poll: poll::<B>,
        output: output::<B>,
        dealloc: dealloc::<B>,
    };
}

/// The vtable for bodies of type `B`, to put in the header given to [`allocate`].
pub(super) fn vtable<B: Body>() -> &'static VTable {
    &Vt::<B>::VTABLE
}

/// Allocates a task holding `header` and `body`, with one reference for the handle, one for the
/// body, and `SCHEDULED` set: the caller must queue the returned [`Scheduled`].
pub(super) fn allocate<B: Body>(header: Header, body: B) -> (NonNull<Header>, Scheduled) {
    debug_assert!(ptr::eq(header.vtable, vtable::<B>()));
    header.state.store((2 * REF) | SCHEDULED, Relaxed);
    let layout = Layout::new::<Cell<B>>();
    // SAFETY: the layout is not zero-sized (it holds a header).
    let Some(cell) = NonNull::new(unsafe { blocks::alloc(layout) }.cast::<Cell<B>>()) else {
        std::alloc::handle_alloc_error(layout)
    };
    // SAFETY: the block is fresh, and sized and aligned for a `Cell<B>`.
    unsafe {
        cell.as_ptr().write(Cell {
            header,
            body: UnsafeCell::new(Slot {
                running: ManuallyDrop::new(body),
            }),
        });
    }
    let ptr = cell.cast::<Header>();
    (ptr, Scheduled(ptr))
}

/// Where task blocks come from: mimalloc (the default feature `mimalloc`), or else the global
/// allocator. Every task is one small block made and freed on the hot path, often a million at a
/// time, so the allocator is a large share of a task's cost: with glibc's malloc it was 275 of
/// 1,233 instructions per spawn_yield child (the blocks outlive glibc's per-thread cache), and
/// mimalloc's per-thread pages of same-sized blocks took spawn_yield, nested and ready 1e6 from
/// 0.166 / 0.249 / 0.188 s to 0.129 / 0.172 / 0.142 s. Blocks freed on another thread (by the
/// last waker) go back through mimalloc's cross-thread free lists. Under Miri, which cannot run C,
/// the global allocator stands in.
mod blocks {
    #[cfg(all(feature = "mimalloc", not(miri)))]
    pub(super) unsafe fn alloc(layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        // SAFETY: plain C calls; `mi_malloc` aligns every block to at least a pointer's size, and
        // its aligned form (slower: ~20 instructions a task) serves greater alignments.
        unsafe {
            if layout.align() <= std::mem::align_of::<usize>() {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[cfg(all(feature = "mimalloc", not(miri)))]
    pub(super) unsafe fn dealloc(block: *mut u8, _: std::alloc::Layout) {
        // SAFETY: caller (a block from `alloc`, which `mi_free` takes back in either form).
        unsafe { libmimalloc_sys::mi_free(block.cast()) }
    }

    #[cfg(not(all(feature = "mimalloc", not(miri))))]
    pub(super) use std::alloc::{alloc, dealloc};
}

/// # Safety
/// `ptr` is a live task of body type `B`, on its loop's thread, and the body is running.
unsafe fn poll<B: Body>(ptr: NonNull<Header>, core: &Core, waker: &Waker) -> bool {
    let cell = ptr.cast::<Cell<B>>().as_ptr();
    // SAFETY: the block is alive (the body holds a reference); only the loop thread touches the
    // body, and nothing else borrows it during a poll (a task cannot poll itself).
    let (header, slot) = unsafe { (&(*cell).header, &mut *(*cell).body.get()) };
    // SAFETY: the body is running (caller), and it never moves: the block is not reallocated.
    let body = unsafe { Pin::new_unchecked(&mut *slot.running) };
    let Poll::Ready(out) = body.poll(ptr, header, core, &mut Context::from_waker(waker)) else {
        return false;
    };
    // SAFETY: the body completed: drop what is left of it and put the output in its place.
    unsafe { ManuallyDrop::drop(&mut slot.running) };
    if let Some(out) = header.keep_output(core, out) {
        slot.output = ManuallyDrop::new(out);
    }
    true
}

/// # Safety
/// `ptr` is a live task of body type `B`.
unsafe fn output<B: Body>(ptr: NonNull<Header>) -> *mut () {
    let cell = ptr.cast::<Cell<B>>().as_ptr();
    // SAFETY: only a place is computed, nothing is read.
    unsafe { ptr::addr_of_mut!((*cell).body).cast() }
}

/// # Safety
/// `ptr` is a task of body type `B` with no reference left: nobody else can reach it.
unsafe fn dealloc<B: Body>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<Cell<B>>().as_ptr();
    // SAFETY: the block came from `blocks::alloc` with this layout in `allocate`, and holds a
    // `Cell<B>`; its slot's union fields are `ManuallyDrop`, so this drops only the header, whose
    // `!Send` parts are empty by now.
    unsafe {
        ptr::drop_in_place(cell);
        blocks::dealloc(cell.cast(), Layout::new::<Cell<B>>());
    }
}

/// Reads the output of a completed task, which must be stored and of type `O`.
///
/// # Safety
/// The output is stored (not yet taken) and `O` is the body's output type. The caller marks it
/// taken.
pub(super) unsafe fn take_output<O>(ptr: NonNull<Header>) -> O {
    // SAFETY: caller.
    unsafe { ptr::read(((*ptr.as_ptr()).vtable.output)(ptr).cast::<O>()) }
}

/// Drops the stored output of type `O`.
///
/// # Safety
/// As [`take_output`].
pub(super) unsafe fn drop_output<O>(ptr: NonNull<Header>) {
    // SAFETY: caller.
    unsafe { ptr::drop_in_place(((*ptr.as_ptr()).vtable.output)(ptr).cast::<O>()) }
}

fn state<'a>(ptr: NonNull<Header>) -> &'a AtomicU32 {
    // SAFETY: callers hold a reference (or the SCHEDULED bit), so the block is alive while they
    // use the state; the lifetime is not exposed beyond this module.
    unsafe { &(*ptr.as_ptr()).state }
}

/// Adds a reference.
pub(super) fn add_ref(ptr: NonNull<Header>) {
    let prev = state(ptr).fetch_add(REF, Relaxed);
    if prev > u32::MAX / 2 {
        // As `Arc` does: a count cannot be allowed to wrap (half a billion references to one
        // task, e.g. wakers cloned and forgotten in a loop).
        std::process::abort();
    }
}

/// Drops a reference, freeing the task if it was the last one.
pub(super) fn release(ptr: NonNull<Header>) {
    let prev = state(ptr).fetch_sub(REF, AcqRel);
    if prev & !COMPLETE == REF {
        debug_assert!(prev & COMPLETE != 0, "a task freed with its future alive");
        // SAFETY: no reference and no queue entry is left.
        unsafe { ((*ptr.as_ptr()).vtable.dealloc)(ptr) }
    }
}

/// Marks the body gone and drops its reference (after a poll that completed it).
fn complete(ptr: NonNull<Header>) {
    let prev = state(ptr).fetch_sub(REF - COMPLETE, AcqRel);
    debug_assert!(prev & COMPLETE == 0 && prev >= REF);
    if prev - (REF - COMPLETE) == COMPLETE {
        // SAFETY: no reference and no queue entry is left.
        unsafe { ((*ptr.as_ptr()).vtable.dealloc)(ptr) }
    }
}

/// Queues the task unless it is queued already or complete: the caller keeps its reference.
pub(super) fn schedule(ptr: NonNull<Header>) {
    let state = state(ptr);
    let mut s = state.load(Acquire);
    loop {
        if s & (SCHEDULED | COMPLETE) != 0 {
            return;
        }
        match state.compare_exchange_weak(s, s | SCHEDULED, AcqRel, Acquire) {
            Ok(_) => return runtime::schedule(Scheduled(ptr)),
            Err(now) => s = now,
        }
    }
}

/// As [`schedule`], consuming the caller's reference (moved into the queue entry when queued).
fn schedule_owned(ptr: NonNull<Header>) {
    let state = state(ptr);
    let mut s = state.load(Acquire);
    loop {
        if s & (SCHEDULED | COMPLETE) != 0 {
            return release(ptr);
        }
        match state.compare_exchange_weak(s, (s | SCHEDULED) - REF, AcqRel, Acquire) {
            Ok(_) => return runtime::schedule(Scheduled(ptr)),
            Err(now) => s = now,
        }
    }
}

/// A task on a run queue: owns the task's `SCHEDULED` bit.
pub(crate) struct Scheduled(NonNull<Header>);

// SAFETY: a `Scheduled` is run only by its loop, on the loop thread (`Core::turn`); elsewhere it
// can only be dropped, which clears the bit and may free the block — which then holds only its
// header, whose `!Send` parts are empty once the future is gone (see the module docs). It cannot
// free a block whose future is alive: the future holds a reference of its own.
unsafe impl Send for Scheduled {}

impl Scheduled {
    /// The task pointer, owning the bit (for a run-queue entry).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).0
    }

    /// # Safety
    /// `ptr` came from [`Scheduled::into_raw`], and is turned back once.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Scheduled {
        Scheduled(ptr)
    }

    /// The task's header. Only on the loop thread: the header's cells are the loop's (this type
    /// is `Send` only to travel through the injection queue).
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the bit keeps the block alive.
        unsafe { self.0.as_ref() }
    }

    /// The id of the loop the task belongs to (any thread).
    pub(crate) fn loop_id(&self) -> u32 {
        // SAFETY: the bit keeps the block alive; `loop_id` is never written after allocation.
        unsafe { (*self.0.as_ptr()).loop_id }
    }

    /// Polls the task once (on its loop's thread, by the loop).
    pub(crate) fn run(self, core: &Core) {
        let ptr = ManuallyDrop::new(self).0;
        // Cleared before the poll, so that a wake during it queues the task again (rule L4).
        let prev = state(ptr).fetch_and(!SCHEDULED, AcqRel);
        if prev & COMPLETE != 0 {
            if prev < REF {
                // SAFETY: this entry was the last thing keeping the block.
                unsafe { ((*ptr.as_ptr()).vtable.dealloc)(ptr) }
            }
            return;
        }
        // A waker that borrows the body's reference: cloning it adds one.
        // SAFETY: `WAKER` functions uphold `RawWaker`'s contract (see there).
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
        // SAFETY: the body is running (not COMPLETE), this is the loop thread, and the types
        // match the vtable the block was allocated with.
        if unsafe { ((*ptr.as_ptr()).vtable.poll)(ptr, core, &waker) } {
            complete(ptr);
        }
    }
}

impl Drop for Scheduled {
    fn drop(&mut self) {
        let prev = state(self.0).fetch_and(!SCHEDULED, AcqRel);
        if prev & COMPLETE != 0 && prev < REF {
            // SAFETY: this entry was the last thing keeping the block.
            unsafe { ((*self.0.as_ptr()).vtable.dealloc)(self.0) }
        }
    }
}

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER)
}

/// A task's waker: a counted reference to the block. Waking queues the task on its loop (on the
/// loop's thread directly, from anywhere else through the injection queue); all four functions
/// are thread-safe, touching only the atomic state word and the loop's `Send` parts.
static WAKER: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

fn task_of(data: *const ()) -> NonNull<Header> {
    // SAFETY: wakers are only made by `raw_waker`, from a non-null task pointer.
    unsafe { NonNull::new_unchecked(data.cast_mut().cast()) }
}

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    let ptr = task_of(data);
    add_ref(ptr);
    raw_waker(ptr)
}

unsafe fn wake(data: *const ()) {
    schedule_owned(task_of(data));
}

unsafe fn wake_by_ref(data: *const ()) {
    schedule(task_of(data));
}

unsafe fn drop_waker(data: *const ()) {
    release(task_of(data));
}
