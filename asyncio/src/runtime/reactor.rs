//! The I/O reactor: the loop's one blocking call, and the readiness of every registered source.
//!
//! # Model
//! Each loop owns one `mio::Poll`. Its [`wait`](Reactor::wait) is the only place the loop thread
//! blocks, and three things end it: a registered source becoming ready, the timeout the loop
//! computed from its next deadline, and the `mio::Waker` kept in the loop's `Shared` part, which
//! other threads fire after injecting a wake. So there is no polling loop and no helper thread.
//!
//! # Registrations
//! A source (socket, pipe, signal pipe) is registered under a key of a [`Slab`] of [`Slot`]s; the
//! key is its mio `Token`. Each slot keeps, per direction (read, write), a readiness flag and at
//! most one waiter. mio is edge-triggered, so the flags are the memory between edges:
//! - a new registration starts as ready in both directions: the first operation is simply tried;
//! - an event sets the flag of each direction it concerns (errors and hang-ups count for both, so
//!   the next operation sees the error) and wakes that direction's waiter;
//! - an operation that returns `WouldBlock` clears its direction's flag and stores the caller's
//!   waker; since events are only processed inside `wait`, on this same thread, no edge can slip
//!   in between the failed operation and the clearing.
//!
//! Wakers are woken after `wait` returns, on the loop thread, so the woken tasks are queued for the
//! loop's next turn like any other wake (rules L4, L6).
//!
//! [`Source`] owns an I/O object and its registration, and deregisters it (and frees the slot) when
//! dropped, before the object's file descriptor is closed.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::event::Source as MioSource;
use mio::{Events, Interest, Token};
use slab::Slab;

use super::{current_core, try_with_core, Core};

/// The token of the loop's cross-thread waker.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// Which half of a source an operation uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

/// One registered source: per direction, whether it may be ready, whether it was closed (end of
/// stream, hang-up or error: sticky, as no further edge will come), and who waits for it.
struct Slot {
    ready: [bool; 2],
    closed: [bool; 2],
    waiters: [Option<Waker>; 2],
}

/// The loop's poller and the table of registered sources. Only the loop thread touches it.
pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    events: RefCell<Events>,
    slots: RefCell<Slab<Slot>>,
    /// Wakers taken from slots during one `wait`, woken once the borrows are released.
    to_wake: RefCell<Vec<Waker>>,
}

impl Reactor {
    /// A new poller, and the waker other threads use to end its wait.
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let reactor = Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            slots: RefCell::new(Slab::new()),
            to_wake: RefCell::new(Vec::new()),
        };
        Ok((reactor, waker))
    }

    /// Blocks until a source is ready, `timeout` passes (`None`: no limit) or another thread
    /// fires the waker; then wakes the waiters of every source that became ready.
    pub(crate) fn wait(&self, timeout: Option<Duration>) {
        let mut events = self.events.borrow_mut();
        if let Err(e) = self.poll.borrow_mut().poll(&mut events, timeout) {
            // A signal interrupted the wait: the loop's turn looks again at what is ready.
            if e.kind() == io::ErrorKind::Interrupted {
                return;
            }
            panic!("the event loop's I/O poller failed: {e}; the loop cannot wait for I/O");
        }
        // Woken after every borrow is released: a waker may be foreign (a user's) and do
        // anything, even register a source. The buffer is kept so a wait does not allocate.
        let mut woken = std::mem::take(&mut *self.to_wake.borrow_mut());
        {
            let mut slots = self.slots.borrow_mut();
            for event in events.iter() {
                let Some(slot) = slots.get_mut(event.token().0) else {
                    continue; // the waker's token
                };
                let failed = event.is_error();
                let (r, w) = (Direction::Read as usize, Direction::Write as usize);
                if failed || event.is_read_closed() {
                    slot.closed[r] = true;
                }
                if failed || event.is_write_closed() {
                    slot.closed[w] = true;
                }
                if slot.closed[r] || event.is_readable() {
                    slot.ready[r] = true;
                    woken.extend(slot.waiters[r].take());
                }
                if slot.closed[w] || event.is_writable() {
                    slot.ready[w] = true;
                    woken.extend(slot.waiters[w].take());
                }
            }
        }
        drop(events);
        woken.drain(..).for_each(Waker::wake);
        *self.to_wake.borrow_mut() = woken;
    }

    /// The number of registered sources (for `Debug`).
    pub(crate) fn len(&self) -> usize {
        self.slots.borrow().len()
    }

    fn register(&self, source: &mut impl MioSource) -> io::Result<usize> {
        let mut slots = self.slots.borrow_mut();
        let entry = slots.vacant_entry();
        let key = entry.key();
        self.poll.borrow().registry().register(
            source,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(Slot {
            ready: [true, true],
            closed: [false, false],
            waiters: [None, None],
        });
        Ok(key)
    }

    fn deregister(&self, source: &mut impl MioSource, key: usize) {
        // Deregistering can only fail for a source that was never registered here; nothing to do.
        let _ = self.poll.borrow().registry().deregister(source);
        let slot = self.slots.borrow_mut().try_remove(key);
        drop(slot); // the waiters' wakers, after the borrow is released
    }
}

/// An I/O object registered with the loop it was created on; deregistered when dropped.
pub(crate) struct Source<S: MioSource> {
    io: S,
    core: Rc<Core>,
    key: usize,
}

impl<S: MioSource> Source<S> {
    /// Registers `io` with the running loop; `what` names the caller in the panic message.
    ///
    /// Panics outside a running loop.
    pub(crate) fn new(mut io: S, what: &str) -> io::Result<Source<S>> {
        let core = current_core(what);
        let key = core.reactor.register(&mut io)?;
        Ok(Source { io, core, key })
    }

    /// The registered object.
    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }

    /// Tries `op` while `direction` may be ready; on `WouldBlock` clears the readiness and waits
    /// for the next edge with `cx`'s waker.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.check_loop()?;
        let d = direction as usize;
        loop {
            {
                let mut slots = self.core.reactor.slots.borrow_mut();
                let slot = &mut slots[self.key];
                if !slot.ready[d] {
                    match &mut slot.waiters[d] {
                        Some(w) => w.clone_from(cx.waker()),
                        none => *none = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.core.reactor.slots.borrow_mut()[self.key].ready[d] = false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// [`poll_io`](Self::poll_io) for a read or write of `len` bytes on a stream: a short
    /// transfer (`0 < n < len`) means the socket's buffer was drained (or filled), so the
    /// readiness is cleared at once, saving the system call that would only say `WouldBlock`.
    /// An edge that arrives after the transfer is still seen: it is reported by the next wait.
    /// Not once the direction was closed: the end of stream (or error) that follows the data
    /// brings no further edge.
    pub(crate) fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        len: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let result = self.poll_io(cx, direction, op);
        if let Poll::Ready(Ok(n)) = result {
            if n > 0 && n < len {
                let mut slots = self.core.reactor.slots.borrow_mut();
                let slot = &mut slots[self.key];
                let d = direction as usize;
                if !slot.closed[d] {
                    slot.ready[d] = false;
                }
            }
        }
        result
    }

    /// Refuses use from a loop other than the one the source is registered with: its readiness
    /// would never be reported there.
    fn check_loop(&self) -> io::Result<()> {
        if try_with_core(|c| c.id()) == Some(self.core.id()) {
            Ok(())
        } else {
            Err(io::Error::other(
                "this I/O object belongs to another event loop (or its loop is not running): \
                 use it only inside the loop that created it",
            ))
        }
    }
}

impl<S: MioSource> Drop for Source<S> {
    fn drop(&mut self) {
        self.core.reactor.deregister(&mut self.io, self.key);
    }
}
