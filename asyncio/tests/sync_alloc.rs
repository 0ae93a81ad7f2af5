//! The uncontended paths of the synchronisation primitives allocate nothing: an `acquire()` of a
//! free lock or permit, a `put()` into a queue with room, a `get()` of a non-empty queue, a
//! `wait()` of a set event. Counted with a global allocator, so this file holds one test only
//! (another test running on a second thread would add its own allocations to the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncio::run;
use asyncio::sync::{Event, Lock, Queue, Semaphore};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn uncontended_acquire_put_get_and_wait_do_not_allocate() {
    run(async {
        let lock = Lock::new();
        let sem = Semaphore::new(2);
        let queue = Queue::new(4);
        let event = Event::new();
        event.set();
        // Warm-up: lets the queue's buffer reach its working size.
        for i in 0..4 {
            queue.put(i).await.unwrap();
        }
        for _ in 0..4 {
            queue.get().await.unwrap();
        }

        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for i in 0..1000 {
            drop(lock.acquire().await);
            drop(sem.acquire().await);
            queue.put(i).await.unwrap();
            assert_eq!(queue.get().await, Ok(i));
            event.wait().await;
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(allocations, 0, "the uncontended paths allocated");
    });
}
