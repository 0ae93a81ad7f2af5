//! The loop's registry of live tasks: 12 bytes per task.
//!
//! Each live task has a key (kept in its header). By key, `tasks` holds the task's pointer and
//! `site_of` the index of its spawn location in `sites`, the distinct `spawn()` call sites seen
//! on this loop (a program has few). A free slot holds, in place of a pointer, the next free key
//! as an odd address without provenance (task blocks are 8-aligned, so real pointers are even):
//! the free list costs no memory of its own. A slab of `(pointer, location)` pairs took 16 bytes
//! per task, and a `Vec` of free keys would grow by 4 bytes per finished task.

use std::collections::HashMap;
use std::panic::Location;
use std::ptr::NonNull;

use crate::task::{Header, TaskPtr};

/// No next free key.
const NONE: usize = usize::MAX >> 1;

/// A live task as the registry gives it out.
pub(crate) struct Registered {
    pub(crate) task: TaskPtr,
    /// Where it was spawned.
    pub(crate) location: &'static Location<'static>,
}

pub(crate) struct Registry {
    tasks: Vec<NonNull<Header>>,
    site_of: Vec<u32>,
    sites: Vec<&'static Location<'static>>,
    site_index: HashMap<usize, u32>,
    /// The site of the last insert: spawns mostly come in runs from one call site.
    last_site: Option<(&'static Location<'static>, u32)>,
    /// Head of the free list, `NONE` when empty.
    free: usize,
    len: usize,
}

/// A free slot pointing at the next free key.
fn vacant(next: usize) -> NonNull<Header> {
    NonNull::new(std::ptr::without_provenance_mut((next << 1) | 1)).expect("odd, so non-null")
}

/// The next free key of a free slot, or `None` for a live task.
fn next_free(slot: NonNull<Header>) -> Option<usize> {
    let addr = slot.addr().get();
    (addr & 1 == 1).then_some(addr >> 1)
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            tasks: Vec::new(),
            site_of: Vec::new(),
            sites: Vec::new(),
            site_index: HashMap::new(),
            last_site: None,
            free: NONE,
            len: 0,
        }
    }

    fn site(&mut self, location: &'static Location<'static>) -> u32 {
        if let Some((last, index)) = self.last_site {
            if std::ptr::eq(last, location) {
                return index;
            }
        }
        let sites = &mut self.sites;
        let index = *self
            .site_index
            .entry(std::ptr::from_ref(location).addr())
            .or_insert_with(|| {
                sites.push(location);
                u32::try_from(sites.len() - 1).expect("fewer than 2^32 spawn sites")
            });
        self.last_site = Some((location, index));
        index
    }

    /// Registers a live task; returns its key.
    pub(crate) fn insert(&mut self, task: NonNull<Header>, location: &'static Location) -> usize {
        debug_assert!(next_free(task).is_none(), "task blocks are aligned");
        let site = self.site(location);
        self.len += 1;
        if self.free != NONE {
            let key = self.free;
            self.free = next_free(self.tasks[key]).expect("the free list holds free slots");
            self.tasks[key] = task;
            self.site_of[key] = site;
            key
        } else {
            assert!(self.tasks.len() < NONE, "too many tasks alive on one loop");
            self.tasks.push(task);
            self.site_of.push(site);
            self.tasks.len() - 1
        }
    }

    /// Unregisters the task with `key`, if there is one.
    pub(crate) fn remove(&mut self, key: usize) {
        if let Some(slot) = self.tasks.get_mut(key) {
            if next_free(*slot).is_none() {
                *slot = vacant(self.free);
                self.free = key;
                self.len -= 1;
            }
        }
    }

    /// The live task with `key`.
    pub(crate) fn get(&self, key: usize) -> Option<Registered> {
        let task = *self.tasks.get(key)?;
        next_free(task).is_none().then(|| Registered {
            task: TaskPtr::new(task),
            location: self.sites[self.site_of[key] as usize],
        })
    }

    /// The live tasks with their keys, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Registered)> + '_ {
        (0..self.tasks.len()).filter_map(|key| Some((key, self.get(key)?)))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-aligned fake task address (never dereferenced by the registry).
    fn fake(n: usize) -> NonNull<Header> {
        NonNull::new(std::ptr::without_provenance_mut(n * 64)).unwrap()
    }

    #[test]
    fn keys_are_reused_last_freed_first_and_sites_are_kept_per_task() {
        let here = Location::caller();
        let there = Location::caller();
        let mut r = Registry::new();
        let a = r.insert(fake(1), here);
        let b = r.insert(fake(2), there);
        let c = r.insert(fake(3), here);
        assert_eq!((a, b, c, r.len()), (0, 1, 2, 3));
        r.remove(b);
        r.remove(b); // twice: nothing more
        r.remove(7); // no such key
        assert_eq!(r.len(), 2);
        assert!(r.get(b).is_none());
        r.remove(a);
        assert_eq!(r.insert(fake(4), there), a, "the last freed key first");
        assert_eq!(r.insert(fake(5), here), b);
        assert_eq!(r.insert(fake(6), here), 3, "then new keys");
        let got: Vec<(usize, usize, u32)> = r
            .iter()
            .map(|(k, t)| (k, t.task.addr(), t.location.line()))
            .collect();
        assert_eq!(
            got,
            [
                (0, 4 * 64, there.line()),
                (1, 5 * 64, here.line()),
                (2, 3 * 64, here.line()),
                (3, 6 * 64, here.line()),
            ]
        );
        assert!(!r.is_empty());
    }
}
