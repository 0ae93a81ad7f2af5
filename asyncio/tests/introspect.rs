//! Introspection: `current_task`, `all_tasks`, `Task::id`, and the task dump (issue 6, item 7),
//! with CPython's test_tasks.py current_task cases ported.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use asyncio::{
    all_tasks, current_task, dump_tasks, gather, run, sleep, spawn, yield_now, EventLoop, TaskState,
};

fn panic_text(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it must panic");
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

// CPython: test_tasks.py::test_current_task
#[test]
fn cpython_current_task() {
    run(async {
        assert!(current_task().is_none(), "main is not a task");
        let mut t = spawn(async { current_task().map(|i| i.id()) });
        let id = t.id();
        assert_eq!(
            (&mut t).await,
            Ok(Some(id)),
            "inside, it is the running task"
        );
        assert!(current_task().is_none(), "and none again afterwards");
    });
}

// CPython: test_tasks.py::test_current_task_with_interleaving_tasks
#[test]
fn cpython_current_task_with_interleaving_tasks() {
    run(async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let worker = |tag: &'static str| {
            let seen = seen.clone();
            async move {
                for _ in 0..3 {
                    let me = current_task().expect("inside a task");
                    seen.borrow_mut().push((tag, me.id()));
                    yield_now().await;
                    assert_eq!(
                        current_task().unwrap().id(),
                        me.id(),
                        "same task after resuming"
                    );
                }
            }
        };
        let a = spawn(worker("a"));
        let b = spawn(worker("b"));
        let (ia, ib) = (a.id(), b.id());
        gather!(a, b).await.unwrap();
        let expected: Vec<_> = (0..3).flat_map(|_| [("a", ia), ("b", ib)]).collect();
        assert_eq!(
            *seen.borrow(),
            expected,
            "the tasks interleaved, each seeing itself"
        );
    });
}

// CPython: test_tasks.py::test_current_task_no_running_loop_implicit
// CPython: test_tasks.py::test_current_task_with_implicit_loop
#[test]
fn cpython_current_task_outside_a_running_loop_is_refused() {
    let lp = EventLoop::new();
    let inside = lp.run_until_complete(async { spawn(async { current_task().is_some() }).await });
    assert_eq!(inside, Ok(true));
    let msg = panic_text(|| {
        current_task();
    });
    assert!(
        msg.contains("current_task() called outside a running event loop"),
        "{msg}"
    );
    assert!(panic_text(|| {
        all_tasks();
    })
    .contains("all_tasks()"));
    assert!(panic_text(|| {
        dump_tasks();
    })
    .contains("dump_tasks()"));
}

#[test]
fn all_tasks_lists_the_unfinished_tasks_in_spawn_order() {
    run(async {
        let sleeper = spawn(sleep(Duration::from_secs(3600)));
        let quick = spawn(async {});
        let waiter = spawn(std::future::pending::<()>());
        assert_eq!(
            all_tasks().iter().map(|i| i.id()).collect::<Vec<_>>(),
            [sleeper.id(), quick.id(), waiter.id()]
        );
        yield_now().await;
        let ids: Vec<u64> = all_tasks().iter().map(|i| i.id()).collect();
        assert_eq!(ids, [sleeper.id(), waiter.id()], "done tasks are left out");
        sleeper.cancel();
        waiter.cancel();
        yield_now().await;
        assert!(all_tasks().is_empty());
    });
}

#[test]
fn a_task_is_running_scheduled_or_waiting() {
    run(async {
        let ready = spawn(async {
            loop {
                yield_now().await;
            }
        });
        let parked = spawn(std::future::pending::<()>());
        yield_now().await;
        let state = |id| {
            all_tasks()
                .into_iter()
                .find(|i| i.id() == id)
                .unwrap()
                .state()
        };
        assert_eq!(state(ready.id()), TaskState::Scheduled);
        assert_eq!(state(parked.id()), TaskState::Waiting);
        let me = spawn(async { current_task().unwrap().state() });
        assert_eq!(me.await, Ok(TaskState::Running));
        ready.cancel();
        parked.cancel();
    });
}

#[test]
fn names_show_in_snapshots_while_the_task_lives() {
    let lp = EventLoop::new();
    lp.run_until_complete(async {
        let t = spawn(async {
            yield_now().await;
        });
        assert_eq!(all_tasks()[0].name(), format!("Task-{}", t.id()));
        t.set_name("renamed");
        assert_eq!(all_tasks()[0].name(), "renamed");
        t.await.unwrap();
        assert!(all_tasks().is_empty());
    });
    assert!(lp.dump().starts_with("0 live tasks"), "{}", lp.dump());
}

#[test]
fn the_spawn_location_is_the_spawn_or_gather_call() {
    run(async {
        let line = line!() + 1;
        let t = spawn(async { current_task().unwrap().location() });
        let at = t.await.unwrap();
        assert_eq!((at.file(), at.line()), (file!(), line));

        let line = line!() + 1;
        let lines = gather((0..3).map(|_| async { current_task().unwrap().location().line() }));
        assert_eq!(
            lines.await.unwrap(),
            [line; 3],
            "gather's children: the gather call"
        );

        let line = line!() + 1;
        let out = gather!(async { current_task().unwrap().location().line() }).await;
        assert_eq!(out, Ok((line,)), "gather!'s children: the macro call");
    });
}

#[test]
fn the_dump_lists_every_live_task_with_its_state_and_location() {
    run(async {
        let a = spawn(sleep(Duration::from_secs(3600)));
        a.set_name("db-poller");
        let b = spawn(async {
            loop {
                yield_now().await;
            }
        });
        yield_now().await;
        let dump = dump_tasks();
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(
            lines[0], "2 live tasks on the loop (1 timer armed)",
            "{dump}"
        );
        assert!(
            lines[1].starts_with(&format!(
                "  db-poller (id {}) waiting, spawned at {}:",
                a.id(),
                file!()
            )),
            "{dump}"
        );
        assert!(
            lines[2].starts_with(&format!(
                "  Task-{} (id {}) scheduled, spawned at ",
                b.id(),
                b.id()
            )),
            "{dump}"
        );
        a.cancel();
        b.cancel();
    });
}

#[test]
fn the_dump_of_a_stopped_loop_shows_what_it_left_pending() {
    let lp = EventLoop::new();
    lp.run_until_complete(async {
        spawn(std::future::pending::<()>()).set_name("stuck");
        yield_now().await;
    });
    let dump = lp.dump();
    assert!(dump.contains("stuck (id 1) waiting"), "{dump}");
}
