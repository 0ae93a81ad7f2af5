//! Waiting for the cancellations a drop requested (rule TO2).
//!
//! Dropping a future that awaits a task or a gather only *requests* their cancellation (T5, G14):
//! the task's future is dropped at its next turn, a gather finishes once its children have. A
//! timeout must not report `Elapsed` before that has happened, so it drops its inner future
//! inside [`collect`]: every `Join` or `GatherFuture` whose drop requests a cancellation
//! meanwhile asks [`watch`] for a listener and hangs it on the task or gather, and the returned
//! [`Drain`] counts them down as they finish. Drains nest: a drain dropped while another one
//! collects (a timeout cancelled during its own clean-up) hands its count on to the outer one.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;

use super::Listener;

thread_local! {
    /// The drain collecting for the drop in progress, if any.
    static COLLECTING: RefCell<Option<Rc<Drain>>> = const { RefCell::new(None) };
}

/// The cancellations one drop requested that have not finished yet.
#[derive(Default)]
pub(crate) struct Drain {
    pending: Cell<usize>,
    waker: RefCell<Option<Waker>>,
    /// The drain to tell when this one is empty, once its owner was dropped while still waiting.
    forward: RefCell<Option<Rc<Drain>>>,
}

impl Drain {
    /// True when every watched cancellation has finished.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.get() == 0
    }

    /// Wakes `waker` when the drain becomes empty.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// The owner of a non-empty drain is being dropped: if an outer drop is collecting, it now
    /// waits for this drain too.
    pub(crate) fn hand_on(self: &Rc<Self>) {
        if self.is_empty() {
            return;
        }
        if let Some(outer) = watch() {
            *self.forward.borrow_mut() = Some(outer);
        }
    }

    fn finish_one(&self) {
        let left = self.pending.get() - 1;
        self.pending.set(left);
        if left == 0 {
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
            if let Some(outer) = self.forward.borrow_mut().take() {
                outer.finish_one();
            }
        }
    }
}

impl Listener for Drain {
    fn child_done(self: Rc<Self>, _: u32) {
        self.finish_one();
    }
}

/// Runs `drop_it` (which drops a future), collecting the cancellations its drop requested.
pub(crate) fn collect(drop_it: impl FnOnce()) -> Rc<Drain> {
    let drain = Rc::new(Drain::default());
    let outer = COLLECTING.with(|c| c.replace(Some(drain.clone())));
    // Restore the outer drain even if a Drop panics.
    struct Restore(Option<Rc<Drain>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            let _ = COLLECTING.try_with(|c| c.replace(outer));
        }
    }
    let _restore = Restore(outer);
    drop_it();
    drain
}

/// True while some drop is being collected (a timeout is cancelling what it wrapped).
pub(crate) fn is_collecting() -> bool {
    COLLECTING
        .try_with(|c| c.borrow().is_some())
        .unwrap_or(false)
}

/// Called by a drop that has just requested a cancellation: when a drain is collecting, counts
/// one more pending cancellation and returns the listener to hang on the task or gather.
pub(crate) fn watch() -> Option<Rc<Drain>> {
    let drain = COLLECTING.try_with(|c| c.borrow().clone()).ok().flatten()?;
    drain.pending.set(drain.pending.get() + 1);
    Some(drain)
}
