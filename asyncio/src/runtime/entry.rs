//! The run queue's entries: one word each.
//!
//! Every spawned task sits in the queue at least once, and a gather of a million children puts a
//! million entries there at once, so an entry's size is part of every task's cost. An [`Entry`]
//! is a pointer with its kind in the three low bits, which every pointee leaves free: task
//! headers and the boxed payloads are aligned to 8. An enum of the same kinds took two words
//! (16 MB more at the peak of a million-child gather).

use std::mem::ManuallyDrop;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::rc::Rc;

use super::Listener;
use crate::task::{Finished, Scheduled};

const TASK: usize = 0;
const DONE: usize = 1;
const CALLBACK: usize = 2;
const NOTIFY: usize = 3;
/// No pointer: the entry is the bare tag.
const MAIN: usize = 4;
const TAG_BITS: usize = 0b111;

/// A boxed payload, aligned so that its address leaves the tag bits free.
#[repr(align(8))]
struct Aligned<T>(T);

/// One thing the loop can run; see [`Kind`] for what it holds.
pub(crate) struct Entry(NonNull<()>);

/// An entry unpacked.
pub(crate) enum Kind {
    Task(Scheduled),
    /// A finished task whose gather (its listener) is to be told.
    Done(Finished),
    Callback(Box<dyn FnOnce()>),
    /// `listener.child_done(index)`, for a notification not from a finished task.
    Notify(Rc<dyn Listener>, u32),
    Main,
}

impl Entry {
    #[inline(always)]
    fn tagged<T>(ptr: NonNull<T>, tag: usize) -> Entry {
        debug_assert_eq!(ptr.addr().get() & TAG_BITS, 0, "a pointee aligned to 8");
        Entry(ptr.cast::<()>().map_addr(|a| a | tag))
    }

    /// A task to poll.
    pub(crate) fn task(task: Scheduled) -> Entry {
        Entry::tagged(task.into_raw(), TASK)
    }

    /// A finished task whose listener is to be told.
    pub(crate) fn done(task: Finished) -> Entry {
        Entry::tagged(task.into_raw(), DONE)
    }

    /// A callback to run.
    pub(crate) fn callback(f: Box<dyn FnOnce()>) -> Entry {
        Entry::tagged(NonNull::from(Box::leak(Box::new(Aligned(f)))), CALLBACK)
    }

    /// `listener.child_done(index)` to call.
    pub(crate) fn notify(listener: Rc<dyn Listener>, index: u32) -> Entry {
        let payload = Box::new(Aligned((listener, index)));
        Entry::tagged(NonNull::from(Box::leak(payload)), NOTIFY)
    }

    /// The main future, to poll.
    pub(crate) fn main() -> Entry {
        let bits = NonZeroUsize::new(MAIN).expect("MAIN is not 0");
        Entry(NonNull::<()>::dangling().with_addr(bits))
    }

    #[inline(always)]
    fn tag(&self) -> usize {
        self.0.addr().get() & TAG_BITS
    }

    /// The pointer without its tag (not for `MAIN`).
    #[inline(always)]
    fn ptr<T>(&self) -> NonNull<T> {
        self.0
            .map_addr(|a| NonZeroUsize::new(a.get() & !TAG_BITS).expect("a real pointer"))
            .cast()
    }

    /// The registry key of the task, for a task entry.
    pub(crate) fn task_key(&self) -> Option<usize> {
        // SAFETY: a TASK entry owns its task's scheduled bit, which keeps the task alive while
        // the entry is borrowed; the header is only read.
        (self.tag() == TASK).then(|| unsafe { self.ptr::<crate::task::Header>().as_ref() }.key())
    }

    /// Unpacks the entry, handing over what it owns.
    #[inline(always)]
    pub(crate) fn into_kind(self) -> Kind {
        let entry = ManuallyDrop::new(self);
        // SAFETY: each tag was written with a pointer of its kind, which the entry owns (a
        // scheduled bit, a reference, or a box) and hands over here exactly once: `self` is
        // not dropped.
        unsafe {
            match entry.tag() {
                TASK => Kind::Task(Scheduled::from_raw(entry.ptr())),
                DONE => Kind::Done(Finished::from_raw(entry.ptr())),
                CALLBACK => {
                    let Aligned(f) =
                        *Box::from_raw(entry.ptr::<Aligned<Box<dyn FnOnce()>>>().as_ptr());
                    Kind::Callback(f)
                }
                NOTIFY => {
                    let payload = entry.ptr::<Aligned<(Rc<dyn Listener>, u32)>>();
                    let Aligned((listener, index)) = *Box::from_raw(payload.as_ptr());
                    Kind::Notify(listener, index)
                }
                _ => Kind::Main,
            }
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let entry = Entry(self.0);
        drop(entry.into_kind());
    }
}
