//! Looking inside a running loop: `current_task`, `all_tasks` and the task dump, for the "why is
//! my program stuck" moment.
//!
//! Everything here is read from the loop's registry of live tasks (a pointer to the task, whose
//! header has its id, and the spawn location recorded at spawn; names given with `set_name` are in
//! the loop's extras table), and a task's state is worked out at the time of asking — the task
//! being polled is *running*, one whose queue entry sits in the run queue or the injection queue
//! is *scheduled*, any other is *waiting*. The hot path pays two stores per poll (noting which
//! task runs) and 8 bytes per live task (the location in the registry entry).

use std::collections::HashSet;
use std::fmt;
use std::panic::Location;

use super::{current_core, Core, Entry, EventLoop, Registered};

/// What a live task is doing at the moment it is looked at.
///
/// # Examples
///
/// ```
/// use asyncio::{current_task, run, TaskState};
///
/// run(async {
///     let state = asyncio::spawn(async { current_task().unwrap().state() }).await;
///     assert_eq!(state, Ok(TaskState::Running));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Being polled right now (it is the one asking).
    Running,
    /// Woken and queued for its next turn.
    Scheduled,
    /// Waiting for a wake-up: a timer, another task, I/O, another thread.
    Waiting,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Waiting => "waiting",
        })
    }
}

/// A snapshot of one live task: its id, name, spawn location and state.
///
/// # Examples
///
/// ```
/// use asyncio::{all_tasks, run, spawn, yield_now};
///
/// run(async {
///     let t = spawn(std::future::pending::<()>());
///     t.set_name("forever");
///     yield_now().await;
///     let info = all_tasks().into_iter().find(|i| i.id() == t.id()).unwrap();
///     assert_eq!(info.name(), "forever");
///     assert!(info.location().file().ends_with(".rs"));
///     t.cancel();
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    id: u64,
    name: String,
    location: &'static Location<'static>,
    state: TaskState,
}

impl TaskInfo {
    /// The task's id, as [`Task::id`](crate::Task::id) gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{current_task, run, spawn};
    /// run(async {
    ///     let t = spawn(async { current_task().unwrap().id() });
    ///     let id = t.id();
    ///     assert_eq!(t.await, Ok(id));
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The task's name: the one given with [`Task::set_name`](crate::Task::set_name), or
    /// `Task-{id}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{current_task, run, spawn};
    /// run(async {
    ///     let t = spawn(async { current_task().unwrap().name().to_owned() });
    ///     let expected = t.name();
    ///     assert_eq!(t.await, Ok(expected));
    /// });
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the task was spawned: the `spawn` call, or the `gather` call that made the child a
    /// task.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{current_task, run, spawn};
    /// run(async {
    ///     let line = line!() + 1;
    ///     let at = spawn(async { current_task().unwrap().location().line() }).await;
    ///     assert_eq!(at, Ok(line));
    /// });
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// What the task was doing when the snapshot was taken.
    ///
    /// # Examples
    ///
    /// See [`TaskState`].
    pub fn state(&self) -> TaskState {
        self.state
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (id {}) {}, spawned at {}",
            self.name, self.id, self.state, self.location
        )
    }
}

impl Core {
    /// Snapshots of the live tasks, in spawn order.
    fn task_infos(&self) -> Vec<TaskInfo> {
        let mut scheduled: HashSet<usize> = self
            .queue
            .borrow()
            .iter()
            .filter_map(Entry::task_key)
            .collect();
        scheduled.extend(self.shared.injected_keys());
        let mut infos: Vec<TaskInfo> = self
            .tasks
            .borrow()
            .iter()
            .map(|(key, t)| {
                let state = if key == self.current.get() {
                    TaskState::Running
                } else if scheduled.contains(&key) {
                    TaskState::Scheduled
                } else {
                    TaskState::Waiting
                };
                self.info(&t, state)
            })
            .collect();
        infos.sort_by_key(|i| i.id);
        infos
    }

    fn info(&self, task: &Registered, state: TaskState) -> TaskInfo {
        let header = task.task.header();
        TaskInfo {
            id: header.id(),
            name: header.name(),
            location: task.location,
            state,
        }
    }

    fn dump(&self) -> String {
        let infos = self.task_infos();
        let mut out = format!(
            "{} live task{} on the loop ({} timer{} armed)\n",
            infos.len(),
            if infos.len() == 1 { "" } else { "s" },
            self.timers.borrow().len(),
            if self.timers.borrow().len() == 1 {
                ""
            } else {
                "s"
            },
        );
        for info in infos {
            out.push_str("  ");
            out.push_str(&info.to_string());
            out.push('\n');
        }
        out
    }
}

/// The task being polled right now, or `None` when called from the main future of [`run`](crate::run)
/// (which is not a task here) or from a done callback (asyncio's `asyncio.current_task()`).
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{current_task, run, spawn};
///
/// run(async {
///     assert!(current_task().is_none(), "main is not a task");
///     let t = spawn(async { current_task().map(|i| i.name().to_owned()) });
///     t.set_name("worker");
///     assert_eq!(t.await, Ok(Some("worker".to_owned())));
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    let core = current_core("current_task()");
    let tasks = core.tasks.borrow();
    let task = tasks.get(core.current.get())?;
    Some(core.info(&task, TaskState::Running))
}

/// Every task of the running loop that has not finished, in spawn order (asyncio's
/// `asyncio.all_tasks()`).
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{all_tasks, run, spawn, yield_now};
///
/// run(async {
///     let a = spawn(std::future::pending::<()>());
///     let b = spawn(async {});
///     yield_now().await; // b finishes
///     let ids: Vec<u64> = all_tasks().iter().map(|i| i.id()).collect();
///     assert_eq!(ids, [a.id()]);
///     a.cancel();
/// });
/// ```
pub fn all_tasks() -> Vec<TaskInfo> {
    current_core("all_tasks()").task_infos()
}

/// A printable report of every live task of the running loop — name, id, state and spawn
/// location, one per line — for finding out why a program is stuck.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use asyncio::{dump_tasks, run, sleep, spawn, yield_now};
/// use std::time::Duration;
///
/// run(async {
///     let t = spawn(sleep(Duration::from_secs(3600)));
///     t.set_name("sleeper");
///     yield_now().await;
///     let dump = dump_tasks();
///     assert!(dump.starts_with("1 live task on the loop (1 timer armed)"), "{dump}");
///     assert!(dump.contains("sleeper (id 1) waiting, spawned at "), "{dump}");
///     t.cancel();
/// });
/// ```
pub fn dump_tasks() -> String {
    current_core("dump_tasks()").dump()
}

impl EventLoop {
    /// The task dump of this loop, from outside it: [`dump_tasks`] for a loop that is not
    /// running (between `run_until_complete` calls, or from a test after a deadlock was caught).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::{spawn, EventLoop};
    ///
    /// let lp = EventLoop::new();
    /// lp.run_until_complete(async { spawn(std::future::pending::<()>()).detach() });
    /// assert!(lp.dump().starts_with("1 live task on the loop"));
    /// ```
    pub fn dump(&self) -> String {
        self.core.dump()
    }
}
