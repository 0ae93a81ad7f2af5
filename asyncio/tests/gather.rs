//! `gather` and `shield`, told as stories a user can observe: every rule G1–G14 and SH1 of
//! shared/SEMANTICS.md, and the gather and shield cases of CPython's `test_tasks.py`.
//!
//! CPython's tests resolve bare Futures by hand; here a child waits on a [`Signal`] that the test
//! sets, which is the same thing seen from the child. No test measures time: events are ordered
//! by counting loop turns (`yield_now`), which gives the same order on any machine, loaded or not.
//!
//! Rust differences that recur (each is repeated where it matters):
//! - A gather (and a shield) owns its children's handles, so a child can be cancelled "from
//!   outside" only before it is handed over (it then ends cancelled at its first turn, T6), or by
//!   the loop's clean-up at the end (L1).
//! - There are no cancel messages and no exception objects: an exception is a panic or, for
//!   `try_gather`, an `Err(e)`; "the same exception object" is checked by value.
//! - A gather has no done callbacks: "the callback is called once" becomes "`is_done()` turns
//!   true and the awaiter gets the outcome".

use asyncio::{
    gather, run, shield, spawn, try_gather, yield_now, EventLoop, Gather, Task, TaskError,
};
use std::cell::{Cell, RefCell};
use std::fmt::Debug;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

/// What happened, in order: children write "<name> finished|cancelled|panicked" here.
type Log = Rc<RefCell<Vec<String>>>;

fn new_log() -> Log {
    Rc::default()
}

fn entries(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

fn note(log: &Log, entry: impl Into<String>) {
    log.borrow_mut().push(entry.into());
}

/// Gives the loop `n` turns.
async fn turns(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// Enough turns for a set signal to reach a child, the child to finish, the gather to be told,
/// and a gather nested one level deeper to be told too (each is one turn).
async fn settle() {
    turns(16).await;
}

/// A value the test sets by hand, awaited by any number of children: the stand-in for a bare
/// asyncio Future resolved with `set_result`.
struct Signal<T>(Rc<SignalState<T>>);

struct SignalState<T> {
    value: RefCell<Option<T>>,
    wakers: RefCell<Vec<Waker>>,
    /// Waits that were polled, are pending and still alive.
    waiting: Cell<usize>,
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal(self.0.clone())
    }
}

impl<T: Clone> Signal<T> {
    fn new() -> Self {
        Signal(Rc::new(SignalState {
            value: RefCell::new(None),
            wakers: RefCell::new(Vec::new()),
            waiting: Cell::new(0),
        }))
    }

    fn set(&self, value: T) {
        assert!(
            self.0.value.borrow().is_none(),
            "test bug: a signal was set twice"
        );
        *self.0.value.borrow_mut() = Some(value);
        let wakers = std::mem::take(&mut *self.0.wakers.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
    }

    fn wait(&self) -> Wait<T> {
        Wait {
            signal: self.clone(),
            registered: false,
        }
    }

    /// How many waits are pending on this signal right now.
    fn waiting(&self) -> usize {
        self.0.waiting.get()
    }
}

fn signals<T: Clone, const N: usize>() -> [Signal<T>; N] {
    std::array::from_fn(|_| Signal::new())
}

struct Wait<T> {
    signal: Signal<T>,
    registered: bool,
}

impl<T: Clone> Future for Wait<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let state = &this.signal.0;
        let value = state.value.borrow().clone();
        match value {
            Some(v) => {
                if this.registered {
                    this.registered = false;
                    state.waiting.set(state.waiting.get() - 1);
                }
                Poll::Ready(v)
            }
            None => {
                if !this.registered {
                    this.registered = true;
                    state.waiting.set(state.waiting.get() + 1);
                }
                state.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Wait<T> {
    fn drop(&mut self) {
        if self.registered {
            let state = &self.signal.0;
            state.waiting.set(state.waiting.get() - 1);
        }
    }
}

/// Logs how a child's body ended: "finished" (through [`Watch::finish`]), "panicked", or
/// "cancelled" (its future was dropped while it waited). A child cancelled before its first turn
/// never creates its watch, so it logs nothing (T6).
struct Watch {
    log: Log,
    name: &'static str,
    armed: bool,
}

fn watch(log: &Log, name: &'static str) -> Watch {
    Watch {
        log: log.clone(),
        name,
        armed: true,
    }
}

impl Watch {
    fn finish(mut self) {
        self.armed = false;
        note(&self.log, format!("{} finished", self.name));
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.armed {
            let how = if std::thread::panicking() {
                "panicked"
            } else {
                "cancelled"
            };
            note(&self.log, format!("{} {how}", self.name));
        }
    }
}

/// Python's exception classes, as values.
#[derive(Clone, Debug, PartialEq)]
enum Exc {
    ZeroDivision(u32),
    Runtime(u32),
}

/// How the test resolves a child: a value, an `Err` (for `try_gather` children), or a panic.
#[derive(Clone, Debug)]
enum Out {
    Val(i32),
    Raise(Exc),
    Panic(&'static str),
}

/// A plain child: waits for its signal, then returns the value or panics.
fn plain_child(log: &Log, name: &'static str, signal: &Signal<Out>) -> impl Future<Output = i32> {
    let (log, signal) = (log.clone(), signal.clone());
    async move {
        let w = watch(&log, name);
        let v = match signal.wait().await {
            Out::Val(v) => v,
            Out::Raise(e) => panic!("{name} raised {e:?}"),
            Out::Panic(message) => panic!("{message}"),
        };
        w.finish();
        v
    }
}

/// A `try_gather` child: waits for its signal, then returns `Ok`, `Err` or panics.
fn try_child(
    log: &Log,
    name: &'static str,
    signal: &Signal<Out>,
) -> impl Future<Output = Result<i32, Exc>> {
    let (log, signal) = (log.clone(), signal.clone());
    async move {
        let w = watch(&log, name);
        let out = match signal.wait().await {
            Out::Val(v) => Ok(v),
            Out::Raise(e) => Err(e),
            Out::Panic(message) => panic!("{message}"),
        };
        w.finish();
        out
    }
}

/// A child that waits forever (until cancelled).
fn pending_child(log: &Log, name: &'static str) -> impl Future<Output = i32> {
    let log = log.clone();
    async move {
        let _w = watch(&log, name);
        std::future::pending::<i32>().await
    }
}

/// Runs `body` on a fresh loop whose exception handler logs every report, drops the loop (its
/// clean-up may report too) and returns the body's output with every report made.
fn with_handler<Fut: Future>(body: impl FnOnce(Log) -> Fut) -> (Fut::Output, Vec<String>) {
    let reports = new_log();
    let lp = EventLoop::new();
    let sink = reports.clone();
    lp.set_exception_handler(move |ctx| note(&sink, ctx.to_string()));
    let out = lp.run_until_complete(body(reports.clone()));
    drop(lp);
    let all = entries(&reports);
    (out, all)
}

/// `Debug` text of each slot of a `return_exceptions` result (panics cannot be built by hand).
fn shown<T: Debug, E: Debug>(slots: &[Result<T, TaskError<E>>]) -> Vec<String> {
    slots.iter().map(|s| format!("{s:?}")).collect()
}

/// Asserts a failure is the panic with `message`.
fn assert_panic<T: Debug, E: Debug>(out: &Result<T, TaskError<E>>, message: &str, what: &str) {
    match out {
        Err(TaskError::Panicked(p)) if p.message() == message => {}
        other => panic!("{what}: expected Err(Panicked({message:?})), got {other:?}"),
    }
}

/// A leaf future that counts its polls: pending once (waking itself, like `yield_now`), then
/// ready.
struct CountedYield {
    polls: Rc<Cell<usize>>,
    yielded: bool,
}

impl Future for CountedYield {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.polls.set(this.polls.get() + 1);
        if this.yielded {
            Poll::Ready(())
        } else {
            this.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Counts the polls of an `Unpin` future.
struct Counted<F> {
    inner: F,
    polls: Rc<Cell<usize>>,
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// The first index where `out` differs from `0..n`, for a readable failure.
fn first_out_of_order(out: &[usize], n: usize) -> Option<(usize, usize)> {
    if out.len() != n {
        return Some((out.len(), usize::MAX));
    }
    out.iter()
        .enumerate()
        .find(|(i, v)| *i != **v)
        .map(|(i, v)| (i, *v))
}

/// Repeats its statements ten times.
macro_rules! ten_times {
    ($($s:tt)*) => {
        $($s)* $($s)* $($s)* $($s)* $($s)* $($s)* $($s)* $($s)* $($s)* $($s)*
    };
}

// ------------------------------------------------------------------------------------------------
// G1: children are tasks from the call on
// ------------------------------------------------------------------------------------------------

// G1
#[test]
fn g1_children_run_from_the_call_even_if_the_gather_is_never_awaited() {
    run(async {
        let log = new_log();
        let g = gather((0..3).map(|i| {
            let log = log.clone();
            async move {
                note(&log, format!("child {i} ran"));
                i * 10
            }
        }));
        settle().await;
        assert_eq!(
            entries(&log),
            ["child 0 ran", "child 1 ran", "child 2 ran"],
            "every child of a gather must run on the loop without anyone awaiting the gather (G1)"
        );
        assert!(
            g.is_done(),
            "all children finished, so the unawaited gather is done"
        );
        assert_eq!(g.await, Ok(vec![0, 10, 20]));
    });
}

// G1
#[test]
fn g1_tasks_and_gathers_are_adopted_as_they_are_not_run_again() {
    run(async {
        let runs = Rc::new(Cell::new(0));
        let r = runs.clone();
        let task = spawn(async move {
            r.set(r.get() + 1);
            5
        });
        let inner = gather((6..=7).map(|i| async move { i }));
        settle().await;
        assert!(
            task.is_done() && inner.is_done(),
            "setup: both finished before the gather"
        );
        let out = asyncio::gather!(task, inner).await;
        assert_eq!(
            out,
            Ok((5, vec![6, 7])),
            "a finished task and a finished gather give their results when adopted (G1)"
        );
        assert_eq!(
            runs.get(),
            1,
            "an adopted task is not wrapped into a new task and run a second time (G1)"
        );
    });
}

// ------------------------------------------------------------------------------------------------
// G2: argument order
// ------------------------------------------------------------------------------------------------

// G2
#[test]
fn g2_results_follow_argument_order_not_completion_order() {
    run(async {
        let finished = new_log();
        let g = gather((0..4usize).map(|i| {
            let finished = finished.clone();
            async move {
                turns(4 - i).await; // child 3 finishes first, child 0 last
                note(&finished, i.to_string());
                i
            }
        }));
        assert_eq!(
            g.await,
            Ok(vec![0, 1, 2, 3]),
            "results must be in argument order (G2)"
        );
        assert_eq!(
            entries(&finished),
            ["3", "2", "1", "0"],
            "setup: the children were meant to finish in reverse order"
        );

        let slow_first = asyncio::gather!(
            async {
                turns(3).await;
                "slow"
            },
            async { 2 }
        )
        .await;
        assert_eq!(
            slow_first,
            Ok(("slow", 2)),
            "gather! keeps argument order too (G2)"
        );
    });
}

// CPython: test_tasks.py::test_success
// G2 G11
#[test]
fn success_gives_results_in_argument_order_once_the_last_child_finishes() {
    run(async {
        let log = new_log();
        let [a, b, c] = signals();
        let mut g = gather([
            plain_child(&log, "a", &a),
            plain_child(&log, "b", &b),
            plain_child(&log, "c", &c),
        ]);
        settle().await;
        assert!(!g.is_done(), "no child has finished yet");
        b.set(Out::Val(1));
        a.set(Out::Val(2));
        settle().await;
        assert!(!g.is_done(), "b and a finished but c still runs");
        c.set(Out::Val(3));
        settle().await;
        assert!(g.is_done(), "all three finished: the gather is done");
        assert_eq!(
            (&mut g).await,
            Ok(vec![2, 1, 3]),
            "input order, not completion order"
        );
        assert!(!g.is_cancelled());
    });
}

// CPython: test_tasks.py::test_result_exception_success
// G2 G6
#[test]
fn result_exception_success_gives_ok_slots_in_argument_order() {
    run(async {
        let log = new_log();
        let [a, b, c] = signals();
        let mut g = gather([
            plain_child(&log, "a", &a),
            plain_child(&log, "b", &b),
            plain_child(&log, "c", &c),
        ])
        .return_exceptions();
        settle().await;
        b.set(Out::Val(1));
        a.set(Out::Val(2));
        settle().await;
        assert!(!g.is_done(), "return_exceptions: c still runs, so not done");
        c.set(Out::Val(3));
        settle().await;
        assert!(g.is_done());
        assert_eq!((&mut g).await, Ok(vec![Ok(2), Ok(1), Ok(3)]));
    });
}

// ------------------------------------------------------------------------------------------------
// G3: no children
// ------------------------------------------------------------------------------------------------

// CPython: test_tasks.py::test_constructor_empty_sequence_use_running_loop
// G3 G7
#[test]
fn an_empty_gather_is_done_at_once_with_an_empty_result() {
    run(async {
        let mut g = gather(Vec::<Task<i32>>::new());
        assert!(
            g.is_done(),
            "a gather without children is done at once (G3)"
        );
        assert!(!g.is_cancelled());
        assert!(g.is_empty());
        assert!(
            !g.cancel(),
            "an empty gather is already done, so cancel() returns false (G7)"
        );
        assert_eq!((&mut g).await, Ok(vec![]));

        let slots = gather(Vec::<Task<i32>>::new()).return_exceptions().await;
        assert_eq!(
            slots,
            Ok(vec![]),
            "empty in return_exceptions mode too (G3)"
        );
    });
}

// ------------------------------------------------------------------------------------------------
// G4, G5: the first failure decides; the others run on
// ------------------------------------------------------------------------------------------------

// G4
#[test]
fn g4_the_first_panic_decides_the_gather_and_the_others_run_on_silently() {
    let ((), reports) = with_handler(|_| async {
        let log = new_log();
        let [a, b, c] = signals();
        let mut g = gather([
            plain_child(&log, "a", &a),
            plain_child(&log, "b", &b),
            plain_child(&log, "c", &c),
        ]);
        settle().await;
        a.set(Out::Panic("a broke"));
        settle().await;
        assert!(
            g.is_done(),
            "the first failure decides the gather at once, while b and c still run (G4)"
        );
        assert!(!g.is_cancelled(), "a failed gather is not a cancelled one");
        assert_eq!(
            entries(&log),
            ["a panicked"],
            "b and c must not be cancelled by a's failure (G4)"
        );
        assert_panic(&(&mut g).await, "a broke", "the gather's outcome");
        b.set(Out::Val(2));
        c.set(Out::Panic("c broke too"));
        settle().await;
        assert_eq!(
            entries(&log),
            ["a panicked", "b finished", "c panicked"],
            "b and c ran to their own ends after the gather failed (G4)"
        );
    });
    assert!(
        reports.is_empty(),
        "c's later panic counts as retrieved by the gather and must not reach the exception \
         handler (G4); reported: {reports:?}"
    );
}

// CPython: test_tasks.py::test_one_exception
// G4
#[test]
fn one_exception_completes_the_gather_at_once_with_that_error_and_leaves_the_others() {
    let ((), reports) = with_handler(|_| async {
        let log = new_log();
        let s: [Signal<Out>; 5] = signals();
        let names = ["a", "b", "c", "d", "e"];
        let mut g = try_gather(s.iter().zip(names).map(|(s, n)| try_child(&log, n, s)));
        settle().await;
        s[0].set(Out::Val(1));
        s[1].set(Out::Raise(Exc::ZeroDivision(7)));
        settle().await;
        assert!(
            g.is_done(),
            "b's error decides the gather at once, c, d and e still running (G4)"
        );
        assert_eq!(
            entries(&log),
            ["a finished", "b finished"],
            "c, d and e must not be cancelled (G4)"
        );
        assert_eq!(
            (&mut g).await,
            Err(TaskError::Failed(Exc::ZeroDivision(7))),
            "the gather fails with b's own error"
        );
        s[2].set(Out::Val(3));
        // Rust: d cannot be cancelled from outside now (the gather owns it): it stays pending and
        // is cancelled by the loop's clean-up when this body returns (L1).
        s[4].set(Out::Panic("e broke"));
        settle().await;
        assert_eq!(
            entries(&log),
            ["a finished", "b finished", "c finished", "e panicked"],
            "c and e reached their own ends"
        );
        assert!(!g.is_cancelled(), "later outcomes change nothing");
    });
    assert!(
        reports.is_empty(),
        "e's panic and d's clean-up cancellation are consumed silently (G4); reported: \
         {reports:?}"
    );
}

// G5
#[test]
fn g5_a_child_cancelled_from_outside_fails_the_gather_which_is_not_itself_cancelled() {
    run(async {
        let log = new_log();
        let [a, b] = signals();
        let doomed = spawn(plain_child(&log, "a", &a));
        let other = spawn(plain_child(&log, "b", &b));
        // Rust: the gather owns its children's handles, so the outside cancel comes before it.
        assert!(doomed.cancel());
        let mut g = gather([doomed, other]);
        settle().await;
        assert!(
            g.is_done(),
            "the cancelled child decides the gather at once (G4, G5)"
        );
        assert!(
            !g.is_cancelled(),
            "a child cancelled from outside is a failure of the gather, not its cancellation (G5)"
        );
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
        assert!(
            !g.is_cancelled(),
            "still not cancelled after the await (G5)"
        );
        b.set(Out::Val(2));
        settle().await;
        assert_eq!(entries(&log), ["b finished"], "b was not cancelled (G4)");
    });
}

// CPython: test_tasks.py::test_one_cancellation
// G5 G4
#[test]
fn one_cancellation_decides_the_gather_with_cancelled_yet_it_is_not_cancelled() {
    let ((), reports) = with_handler(|_| async {
        let log = new_log();
        let s: [Signal<Out>; 5] = signals();
        s[0].set(Out::Val(1));
        let names = ["a", "b", "c", "d", "e"];
        let tasks: Vec<Task<i32>> = s
            .iter()
            .zip(names)
            .map(|(s, n)| spawn(plain_child(&log, n, s)))
            .collect();
        // Rust: b is cancelled before the gather takes its handle; it ends cancelled at its
        // first turn, right after a returned 1.
        assert!(tasks[1].cancel());
        let mut g = gather(tasks);
        settle().await;
        assert!(g.is_done(), "a=1 then b cancelled: the gather is done");
        assert!(
            !g.is_cancelled(),
            "gather.cancelled() is false: a child was cancelled, not the gather (G5)"
        );
        assert_eq!(
            entries(&log),
            ["a finished"],
            "c, d and e are not cancelled (G4)"
        );
        assert_eq!(
            (&mut g).await,
            Err(TaskError::Cancelled),
            "the gather's failure is the child's cancellation"
        );
        s[2].set(Out::Val(3));
        // Rust: d stays pending and is cancelled by the loop's clean-up (L1).
        s[4].set(Out::Panic("e broke"));
        settle().await;
        assert_eq!(
            entries(&log),
            ["a finished", "c finished", "e panicked"],
            "later results are ignored, but the children ran to their ends"
        );
        assert!(!g.is_cancelled());
    });
    assert!(
        reports.is_empty(),
        "later outcomes are consumed silently (G4); reported: {reports:?}"
    );
}

// CPython: test_tasks.py::test_exception_marking
// G4
#[test]
fn exception_marking_the_first_failure_wins_and_the_second_is_not_reported() {
    let ((out, log), reports) = with_handler(|_| async {
        let log = new_log();
        let [a, b] = signals();
        let waiter = spawn({
            let (log, a, b) = (log.clone(), a.clone(), b.clone());
            async move { gather([plain_child(&log, "a", &a), plain_child(&log, "b", &b)]).await }
        });
        settle().await;
        a.set(Out::Panic("RuntimeError a"));
        b.set(Out::Panic("RuntimeError b"));
        let out = waiter.await;
        settle().await;
        (out, entries(&log))
    });
    let out = out.expect("the waiting task itself was not cancelled");
    assert_panic(&out, "RuntimeError a", "the awaiting task's outcome");
    assert_eq!(
        log,
        ["a panicked", "b panicked"],
        "setup: both children failed"
    );
    assert!(
        reports.is_empty(),
        "the second failure is retrieved by the gather and never reported as unhandled (G4); \
         reported: {reports:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// G6: return_exceptions
// ------------------------------------------------------------------------------------------------

// G6
#[test]
fn g6_return_exceptions_puts_every_outcome_in_its_slot_and_waits_for_all() {
    run(async {
        let log = new_log();
        let s: [Signal<Out>; 5] = signals();
        let names = ["ok", "err", "panic", "cancelled", "late"];
        let tasks: Vec<Task<Result<i32, Exc>>> = s
            .iter()
            .zip(names)
            .map(|(s, n)| spawn(try_child(&log, n, s)))
            .collect();
        assert!(tasks[3].cancel()); // Rust: cancelled from outside before the gather owns it
        let mut g = try_gather(tasks).return_exceptions();
        s[0].set(Out::Val(1));
        s[1].set(Out::Raise(Exc::Runtime(1)));
        s[2].set(Out::Panic("boom"));
        settle().await;
        assert!(
            !g.is_done(),
            "return_exceptions waits for every child; 'late' still runs (G6)"
        );
        s[4].set(Out::Val(5));
        settle().await;
        assert!(g.is_done() && !g.is_cancelled());
        let slots = (&mut g)
            .await
            .expect("a return_exceptions gather never fails unless it is cancelled (G6)");
        assert_eq!(
            shown(&slots),
            [
                "Ok(1)",
                "Err(Failed(Runtime(1)))",
                "Err(Panicked(Panic(\"boom\")))",
                "Err(Cancelled)",
                "Ok(5)",
            ],
            "each outcome in its own slot, in argument order (G6)"
        );
    });
}

// CPython: test_tasks.py::test_return_exceptions
// G6
#[test]
fn return_exceptions_gives_errors_as_values_in_argument_order() {
    run(async {
        let log = new_log();
        let [a, b, c, d] = signals();
        let mut g = try_gather([
            try_child(&log, "a", &a),
            try_child(&log, "b", &b),
            try_child(&log, "c", &c),
            try_child(&log, "d", &d),
        ])
        .return_exceptions();
        settle().await;
        b.set(Out::Val(1));
        c.set(Out::Raise(Exc::ZeroDivision(1)));
        a.set(Out::Val(3));
        settle().await;
        assert!(!g.is_done(), "d still runs, so the gather is not done (G6)");
        d.set(Out::Panic("exc2"));
        settle().await;
        assert!(g.is_done(), "d failed last: now the gather is done");
        let slots = (&mut g)
            .await
            .expect("return_exceptions never fails here (G6)");
        assert_eq!(
            shown(&slots),
            [
                "Ok(3)",
                "Ok(1)",
                "Err(Failed(ZeroDivision(1)))",
                "Err(Panicked(Panic(\"exc2\")))",
            ],
            "[3, 1, exc, exc2] (G6)"
        );
    });
}

// CPython: test_tasks.py::test_result_exception_one_cancellation
// G6 G5
#[test]
fn result_exception_one_cancellation_puts_cancelled_in_the_slots() {
    run(async {
        let log = new_log();
        let s: [Signal<Out>; 6] = signals();
        let names = ["a", "b", "c", "d", "e", "f"];
        let tasks: Vec<Task<Result<i32, Exc>>> = s
            .iter()
            .zip(names)
            .map(|(s, n)| spawn(try_child(&log, n, s)))
            .collect();
        // Rust: c and e are cancelled from outside before the gather owns them; they end
        // cancelled at their first turn.
        assert!(tasks[2].cancel());
        assert!(tasks[4].cancel());
        let mut g = try_gather(tasks).return_exceptions();
        s[0].set(Out::Val(1));
        s[1].set(Out::Raise(Exc::ZeroDivision(1)));
        settle().await;
        assert!(!g.is_done(), "a, b, c finished, d and f still run");
        s[3].set(Out::Val(3));
        settle().await;
        assert!(!g.is_done(), "f still runs");
        s[5].set(Out::Raise(Exc::Runtime(1)));
        settle().await;
        assert!(g.is_done());
        assert!(
            !g.is_cancelled(),
            "children were cancelled, not the gather (G5)"
        );
        let slots = (&mut g).await.expect("return_exceptions never fails here");
        assert_eq!(
            slots,
            vec![
                Ok(1),
                Err(TaskError::Failed(Exc::ZeroDivision(1))),
                Err(TaskError::Cancelled),
                Ok(3),
                Err(TaskError::Cancelled),
                Err(TaskError::Failed(Exc::Runtime(1))),
            ],
            "a cancelled child becomes a Cancelled value in its slot (G6)"
        );
    });
}

// CPython: test_tasks.py::test_cancel_gather_2
// G6 G8 G14
#[test]
fn cancel_gather_2_return_exceptions_does_not_swallow_the_awaiting_tasks_cancellation() {
    run(async {
        let started = Rc::new(Cell::new(0u32));
        let finished = Rc::new(Cell::new(0u32));
        let rounds = Rc::new(Cell::new(0u32));
        let task = spawn({
            let (started, finished, rounds) = (started.clone(), finished.clone(), rounds.clone());
            async move {
                loop {
                    let (s, f) = (started.clone(), finished.clone());
                    let slots = gather([async move {
                        s.set(s.get() + 1);
                        yield_now().await;
                        f.set(f.get() + 1);
                    }])
                    .return_exceptions()
                    .await;
                    assert!(slots.is_ok(), "no round is cancelled before the task is");
                    rounds.set(rounds.get() + 1);
                }
            }
        });
        turns(20).await;
        assert!(rounds.get() > 0, "setup: the task went round its loop");
        assert!(task.cancel());
        // Rust: no cancel message to carry (CPython checks the CancelledError's args).
        let mut task = task;
        assert_eq!(
            (&mut task).await,
            Err(TaskError::Cancelled),
            "return_exceptions must not turn the awaiting task's own cancellation into a value"
        );
        assert!(task.is_cancelled());
        settle().await;
        assert!(
            started.get() == finished.get() || started.get() == finished.get() + 1,
            "at most the last round's child was cut short (by G14)"
        );
    });
}

// ------------------------------------------------------------------------------------------------
// G7: gather.cancel()
// ------------------------------------------------------------------------------------------------

// G7
#[test]
fn g7_cancel_after_the_gather_failed_returns_false_and_leaves_the_children_running() {
    run(async {
        let log = new_log();
        let [a, b] = signals();
        let mut g = gather([plain_child(&log, "a", &a), plain_child(&log, "b", &b)]);
        settle().await;
        a.set(Out::Panic("a broke"));
        settle().await;
        assert!(g.is_done(), "setup: a's failure decided the gather");
        assert!(
            !g.cancel(),
            "the gather is already done: cancel() must return false and cancel nothing (G7)"
        );
        assert!(!g.is_cancelled());
        settle().await;
        assert_eq!(
            entries(&log),
            ["a panicked"],
            "b must still be running (G7)"
        );
        b.set(Out::Val(2));
        settle().await;
        assert_eq!(
            entries(&log),
            ["a panicked", "b finished"],
            "b ran to its end"
        );
        assert_panic(&(&mut g).await, "a broke", "the gather keeps its failure");
    });
}

// G7 G8
#[test]
fn g7_cancel_on_a_pending_gather_cancels_the_children_not_done_and_returns_true() {
    run(async {
        let log = new_log();
        let [a, b, c] = signals();
        a.set(Out::Val(1));
        let mut g = gather([
            plain_child(&log, "a", &a),
            plain_child(&log, "b", &b),
            plain_child(&log, "c", &c),
        ]);
        settle().await;
        assert_eq!(entries(&log), ["a finished"], "setup: a is done");
        assert!(
            g.cancel(),
            "b and c accept the cancellation, so cancel() returns true (G7)"
        );
        settle().await;
        assert_eq!(
            entries(&log),
            ["a finished", "b cancelled", "c cancelled"],
            "every child not yet done is cancelled (G7)"
        );
        assert!(g.is_done() && g.is_cancelled());
        assert!(
            !g.cancel(),
            "a cancelled gather that is done: cancel() returns false (G7)"
        );
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
    });
}

// CPython: test_tasks.py::test_cancel_gather_1
// G7
#[test]
fn cancel_gather_1_a_child_that_just_finished_refuses_and_the_result_is_delivered() {
    run(async {
        let child_done = Rc::new(Cell::new(false));
        let d = child_done.clone();
        let mut g = gather([async move {
            d.set(true);
            42
        }]);
        // One turn: the child runs and finishes; the gather hears of it only on the next turn.
        yield_now().await;
        assert!(
            child_done.get() && !g.is_done(),
            "setup: the child finished but the gather was not told yet"
        );
        assert!(
            !g.cancel(),
            "no child accepted the cancellation, so cancel() returns false (G7)"
        );
        assert_eq!(
            (&mut g).await,
            Ok(vec![42]),
            "the gather still completes with the result"
        );
        assert!(!g.is_cancelled(), "and is not cancelled");
    });
}

// The same window one level down: the inner gather's only child has finished, but neither gather
// has been told. Cancelling the outer asks the inner, which (like `cancel_gather_1`) has no child
// left to accept; so the outer has none either.
// G7 G9
#[test]
fn g7_cancel_reaching_a_nested_gather_whose_children_all_finished_returns_false() {
    run(async {
        let child_done = Rc::new(Cell::new(false));
        let d = child_done.clone();
        let inner = gather([async move {
            d.set(true);
            42
        }]);
        let mut outer = gather([inner]);
        yield_now().await;
        assert!(
            child_done.get() && !outer.is_done(),
            "setup: the leaf finished but no gather was told yet"
        );
        assert!(
            !outer.cancel(),
            "no leaf accepted the cancellation, so cancel() must return false (G7, as CPython's \
             _GatheringFuture.cancel over a nested gather)"
        );
        assert_eq!(
            (&mut outer).await,
            Ok(vec![vec![42]]),
            "a cancellation nobody accepted must not turn the result into Cancelled (G7)"
        );
        assert!(!outer.is_cancelled());
    });
}

// ------------------------------------------------------------------------------------------------
// G8: a cancelled gather
// ------------------------------------------------------------------------------------------------

// G8 G9
#[test]
fn g8_a_cancelled_gather_completes_after_all_its_children_with_cancelled() {
    run(async {
        let log = new_log();
        let inner = gather([
            pending_child(&log, "inner x"),
            pending_child(&log, "inner y"),
        ]);
        let mut g = asyncio::gather!(pending_child(&log, "a"), inner);
        settle().await;
        assert!(g.cancel());
        assert!(
            !g.is_done(),
            "cancel() only requests: the gather completes once its children have finished (G8)"
        );
        let out = (&mut g).await;
        note(&log, "gather done");
        assert_eq!(
            out,
            Err(TaskError::Cancelled),
            "a cancelled gather ends Cancelled (G8)"
        );
        assert!(
            g.is_cancelled(),
            "R: a cancelled gather reports is_cancelled() (G8)"
        );
        let mut seen = entries(&log);
        assert_eq!(
            seen.pop().as_deref(),
            Some("gather done"),
            "every child finished before the gather completed (G8): {seen:?}"
        );
        seen.sort();
        assert_eq!(
            seen,
            ["a cancelled", "inner x cancelled", "inner y cancelled"]
        );
    });
}

// G8 G6
#[test]
fn g8_a_cancelled_return_exceptions_gather_ends_cancelled_even_after_some_results() {
    run(async {
        let log = new_log();
        let [ok, bad, slow] = signals();
        ok.set(Out::Val(1));
        bad.set(Out::Panic("bad"));
        let mut g = gather([
            plain_child(&log, "ok", &ok),
            plain_child(&log, "bad", &bad),
            plain_child(&log, "slow", &slow),
        ])
        .return_exceptions();
        settle().await;
        assert!(!g.is_done(), "setup: slow still runs");
        assert!(g.cancel(), "slow accepts the cancellation (G7)");
        assert_eq!(
            (&mut g).await,
            Err(TaskError::Cancelled),
            "even in return_exceptions mode, and with some results in, a cancelled gather ends \
             Cancelled (G8, CPython issue 32684)"
        );
        assert!(g.is_cancelled());
        assert_eq!(
            entries(&log),
            ["ok finished", "bad panicked", "slow cancelled"]
        );
    });
}

// ------------------------------------------------------------------------------------------------
// G9, G10: nesting and mixed children
// ------------------------------------------------------------------------------------------------

// G9
#[test]
fn g9_a_nested_gather_is_one_slot_and_cancelling_the_outer_reaches_its_children() {
    run(async {
        let inner1 = gather((1..=2).map(|i| async move { i }));
        let inner2 = gather((3..=4).map(|i| async move { i }));
        assert_eq!(
            gather([inner1, inner2]).await,
            Ok(vec![vec![1, 2], vec![3, 4]]),
            "each inner gather's result is one slot of the outer's (G9)"
        );

        let log = new_log();
        let inner = gather([pending_child(&log, "x"), pending_child(&log, "y")]);
        let mut outer = asyncio::gather!(inner, pending_child(&log, "z"));
        settle().await;
        assert!(outer.cancel());
        assert_eq!((&mut outer).await, Err(TaskError::Cancelled));
        let mut seen = entries(&log);
        seen.sort();
        assert_eq!(
            seen,
            ["x cancelled", "y cancelled", "z cancelled"],
            "cancelling the outer reaches the inner gather's children (G9)"
        );
    });
}

// G9
#[test]
fn g9_a_hundred_gathers_each_adopting_the_next_give_the_value() {
    run(async {
        let g = gather([async {
            yield_now().await;
            7u8
        }]);
        // Rust: each level has its own type (Vec<Vec<..>>), so the nest is spelled out by a macro.
        ten_times! { ten_times! { let g = gather([g]); } }
        let v = g.await.expect("a nest of successful gathers succeeds (G9)");
        ten_times! { ten_times! { let v = v.into_iter().next().expect("one slot per level (G9)"); } }
        assert_eq!(v, vec![7]);
    });
}

// G9 G8
#[test]
fn g9_cancelling_a_hundred_nested_gathers_reaches_the_innermost_child() {
    run(async {
        let log = new_log();
        let g = gather([pending_child(&log, "leaf")]);
        ten_times! { ten_times! { let g = gather([g]); } }
        let mut g = g;
        settle().await;
        assert!(g.cancel(), "the leaf accepts, a hundred levels down (G9)");
        let out = (&mut g).await;
        note(&log, "outer done");
        assert!(
            matches!(out, Err(TaskError::Cancelled)),
            "the outermost gather ends Cancelled (G8)"
        );
        assert!(g.is_cancelled());
        assert_eq!(
            entries(&log),
            ["leaf cancelled", "outer done"],
            "the leaf was cancelled, and before the outermost gather completed (G8, G9)"
        );
    });
}

// G9 G13
#[test]
fn ten_thousand_nested_gathers_give_the_value_without_overflowing_the_stack() {
    const DEPTH: u64 = 10_000;
    run(async {
        // Rust: gather(gather(x)) has the type Vec<Vec<T>>, so a nest built in a loop brings each
        // level back to one type: an async block awaits the inner gather and unwraps its one
        // slot. Each level is thus gather → task → gather.
        let mut g: Gather<Vec<u64>> = gather([async {
            yield_now().await;
            0u64
        }]);
        for _ in 0..DEPTH {
            let inner = g;
            g = gather([async move { inner.await.expect("an inner level failed")[0] + 1 }]);
        }
        assert_eq!(
            g.await,
            Ok(vec![DEPTH]),
            "each of the {DEPTH} levels adds one to the leaf's 0"
        );
    });
}

// G9 G14 G8
#[test]
fn cancelling_ten_thousand_nested_gathers_reaches_the_leaf() {
    const DEPTH: usize = 10_000;
    run(async {
        let log = new_log();
        let leaf = {
            let log = log.clone();
            async move {
                let _w = watch(&log, "leaf");
                std::future::pending::<u64>().await
            }
        };
        let mut g: Gather<Vec<u64>> = gather([leaf]);
        for _ in 0..DEPTH {
            let inner = g;
            g = gather([async move { inner.await.expect("an inner level failed")[0] + 1 }]);
        }
        settle().await;
        assert!(g.cancel(), "the outermost child accepts");
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
        assert!(g.is_cancelled());
        // Each level's task, dropped, abandons its await of the gather below (G14), one turn per
        // level.
        let mut waited = 0;
        while entries(&log).is_empty() {
            yield_now().await;
            waited += 1;
            assert!(
                waited <= 4 * DEPTH,
                "the cancellation did not reach the leaf within {waited} turns"
            );
        }
        assert_eq!(entries(&log), ["leaf cancelled"]);
    });
}

// G10
#[test]
fn g10_futures_tasks_gathers_and_shields_mix_in_one_call() {
    run(async {
        let out = asyncio::gather!(
            async { 1 },
            spawn(async { "two" }),
            gather((3..=4).map(|i| async move { i })),
            shield(spawn(async { 'v' })),
        )
        .await;
        assert_eq!(
            out,
            Ok((1, "two", vec![3, 4], 'v')),
            "a future, a task, a gather and a shield in one gather (G10)"
        );

        let out = asyncio::try_gather!(
            async { Ok::<_, Exc>(1) },
            spawn(async { Ok::<_, Exc>("two") }),
            try_gather((3..=4).map(|i| async move { Ok::<_, Exc>(i) })),
        )
        .await;
        assert_eq!(
            out,
            Ok((1, "two", vec![3, 4])),
            "the same with try_gather! (G10)"
        );

        let out = asyncio::try_gather!(
            async { Ok::<_, Exc>(1) },
            spawn(async { Err::<u8, _>(Exc::Runtime(2)) }),
        )
        .await;
        assert_eq!(
            out,
            Err(TaskError::Failed(Exc::Runtime(2))),
            "a task's Err fails a try_gather! (G10)"
        );
    });
}

// ------------------------------------------------------------------------------------------------
// G11: is_done without awaiting
// ------------------------------------------------------------------------------------------------

// G11
#[test]
fn g11_is_done_turns_true_as_soon_as_the_outcome_is_decided_without_any_await() {
    run(async {
        let log = new_log();
        let [a, b] = signals();
        let g = gather([plain_child(&log, "a", &a), plain_child(&log, "b", &b)]);
        let r =
            gather([plain_child(&log, "c", &a), plain_child(&log, "d", &b)]).return_exceptions();
        settle().await;
        assert!(!g.is_done() && !r.is_done());
        a.set(Out::Val(1));
        b.set(Out::Val(2));
        let mut waited = 0;
        while !(g.is_done() && r.is_done()) {
            yield_now().await;
            waited += 1;
            assert!(
                waited < 100,
                "the children finished ({:?}) but the gathers are not done after {waited} turns \
                 (G11)",
                entries(&log)
            );
        }
        assert_eq!(g.await, Ok(vec![1, 2]));
        assert_eq!(r.await, Ok(vec![Ok(1), Ok(2)]));
    });
}

// ------------------------------------------------------------------------------------------------
// G12: cancel_on_error
// ------------------------------------------------------------------------------------------------

// G12
#[test]
fn g12_cancel_on_error_cancels_the_others_and_fails_after_they_finished() {
    run(async {
        let log = new_log();
        let [a, b, c] = signals();
        let mut g = gather([
            plain_child(&log, "a", &a),
            plain_child(&log, "b", &b),
            plain_child(&log, "c", &c),
        ])
        .cancel_on_error();
        settle().await;
        a.set(Out::Panic("a broke"));
        let out = (&mut g).await;
        note(&log, "gather done");
        assert_panic(
            &out,
            "a broke",
            "the first failure is the gather's outcome (G12)",
        );
        assert!(
            !g.is_cancelled(),
            "the gather failed; it was not cancelled (G12)"
        );
        assert_eq!(
            entries(&log),
            ["a panicked", "b cancelled", "c cancelled", "gather done"],
            "the others are cancelled, and the gather completes after they finished (G12)"
        );

        let log = new_log();
        let [x, y] = signals();
        let mut g =
            try_gather([try_child(&log, "x", &x), try_child(&log, "y", &y)]).cancel_on_error();
        settle().await;
        y.set(Out::Raise(Exc::Runtime(3)));
        assert_eq!(
            (&mut g).await,
            Err(TaskError::Failed(Exc::Runtime(3))),
            "an Err is a failure too (G12)"
        );
        assert_eq!(entries(&log), ["y finished", "x cancelled"]);
    });
}

// ------------------------------------------------------------------------------------------------
// G13: cost
// ------------------------------------------------------------------------------------------------

// G13
#[test]
fn g13_a_million_children_each_polled_twice_give_results_in_order() {
    const N: usize = 1_000_000;
    run(async {
        let child_polls = Rc::new(Cell::new(0));
        let g = gather((0..N).map(|i| {
            let polls = child_polls.clone();
            async move {
                CountedYield {
                    polls,
                    yielded: false,
                }
                .await;
                i
            }
        }));
        let awaiter_polls = Rc::new(Cell::new(0));
        let out = Counted {
            inner: g.into_future(),
            polls: awaiter_polls.clone(),
        }
        .await
        .expect("no child fails");
        if let Some((i, v)) = first_out_of_order(&out, N) {
            panic!(
                "{} results; slot {i} holds {v}, expected {i} (G2, G13)",
                out.len()
            );
        }
        assert_eq!(
            child_polls.get(),
            2 * N,
            "each child is polled once to yield and once to finish: a child's wake must not \
             re-poll its siblings (G13)"
        );
        assert!(
            awaiter_polls.get() <= 3,
            "the awaiter of the gather was polled {} times: it must be woken when the gather is \
             decided, not at every child's completion (G13)",
            awaiter_polls.get()
        );
    });
}

// G13 G2
#[test]
fn g13_a_hundred_thousand_children_finishing_in_reverse_order_cost_linear_polls() {
    const N: usize = 100_000;
    run(async {
        let signals: Vec<Signal<()>> = (0..N).map(|_| Signal::new()).collect();
        signals[N - 1].set(());
        let order = Rc::new(RefCell::new(Vec::with_capacity(N)));
        let child_polls = Rc::new(Cell::new(0));
        let g = gather((0..N).map(|i| {
            let mine = Counted {
                inner: signals[i].wait(),
                polls: child_polls.clone(),
            };
            let next = i.checked_sub(1).map(|j| signals[j].clone());
            let order = order.clone();
            async move {
                mine.await;
                order.borrow_mut().push(i);
                if let Some(next) = next {
                    next.set(()); // child i-1 finishes on the next turn
                }
                i
            }
        }));
        let awaiter_polls = Rc::new(Cell::new(0));
        let out = Counted {
            inner: g.into_future(),
            polls: awaiter_polls.clone(),
        }
        .await
        .expect("no child fails");
        if let Some((i, v)) = first_out_of_order(&out, N) {
            panic!(
                "{} results; slot {i} holds {v}, expected {i} (G2, G13)",
                out.len()
            );
        }
        assert!(
            order.borrow().iter().copied().eq((0..N).rev()),
            "setup: the children were meant to finish last to first"
        );
        assert_eq!(
            child_polls.get(),
            2 * N - 1,
            "each child waits once and finishes once (the last one never waits): the cost does \
             not depend on the completion order (G13)"
        );
        assert!(
            awaiter_polls.get() <= 3,
            "the awaiter of the gather was polled {} times (G13)",
            awaiter_polls.get()
        );
    });
}

// ------------------------------------------------------------------------------------------------
// G14: abandoned awaits
// ------------------------------------------------------------------------------------------------

// G14
#[test]
fn g14_cancelling_the_task_that_awaits_a_gather_cancels_every_child_not_yet_done() {
    run(async {
        let log = new_log();
        let [a, b, c] = signals();
        a.set(Out::Val(1));
        let mut waiter = spawn({
            let log = log.clone();
            async move {
                let g = gather([
                    plain_child(&log, "a", &a),
                    plain_child(&log, "b", &b),
                    plain_child(&log, "c", &c),
                ]);
                let out = g.await;
                note(&log, "waiter resumed");
                out
            }
        });
        settle().await;
        assert_eq!(entries(&log), ["a finished"], "setup: b and c are waiting");
        assert!(waiter.cancel());
        assert_eq!((&mut waiter).await, Err(TaskError::Cancelled));
        settle().await;
        assert_eq!(
            entries(&log),
            ["a finished", "b cancelled", "c cancelled"],
            "abandoning the await of a gather cancels it, and so every child not yet done (G14)"
        );
    });
}

// G14
#[test]
fn g14_a_select_that_gives_up_on_a_gather_cancels_it() {
    run(async {
        let log = new_log();
        let [a, b] = signals();
        let mut g = gather([plain_child(&log, "a", &a), plain_child(&log, "b", &b)]);
        settle().await;
        {
            let mut fut = (&mut g).into_future();
            let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await;
            assert!(first.is_pending(), "setup: the children are still waiting");
        } // the await is abandoned here, as by a select whose other branch won
        assert!(
            !g.is_done(),
            "cancellation was requested; the children have not finished yet (G8)"
        );
        settle().await;
        assert!(
            g.is_done() && g.is_cancelled(),
            "an abandoned await cancels the gather (G14)"
        );
        assert_eq!(entries(&log), ["a cancelled", "b cancelled"]);
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
    });
}

// G14
#[test]
fn g14_a_gather_never_awaited_leaves_its_children_running() {
    run(async {
        let log = new_log();
        let [a, b, c] = signals();
        let g = gather([plain_child(&log, "a", &a), plain_child(&log, "b", &b)]);
        settle().await;
        drop(g); // nobody will ever await it
        a.set(Out::Val(1));
        b.set(Out::Val(2));
        settle().await;
        assert_eq!(
            entries(&log),
            ["a finished", "b finished"],
            "a gather never awaited leaves its children running (G14)"
        );

        let mut g = gather([plain_child(&log, "c", &c)]);
        settle().await;
        drop((&mut g).into_future()); // made but never polled: not an await
        settle().await;
        assert!(
            !g.is_done(),
            "a future of the gather that was never polled did not cancel it (G14)"
        );
        c.set(Out::Val(3));
        assert_eq!((&mut g).await, Ok(vec![3]));
    });
}

// CPython: test_tasks.py::test_cancellation_broadcast
// G14 G7 G8
#[test]
fn cancellation_broadcast_cancelling_the_awaiting_task_cancels_both_children() {
    type Home = Rc<RefCell<Option<Gather<Vec<i32>>>>>;
    /// Puts the gather back where the test can reach it when the task's future is dropped.
    struct PutBack {
        gather: Option<Gather<Vec<i32>>>,
        home: Home,
    }
    impl Drop for PutBack {
        fn drop(&mut self) {
            *self.home.borrow_mut() = self.gather.take();
        }
    }

    run(async {
        let log = new_log();
        let proof = Rc::new(Cell::new(0));
        // Rust: a future has one owner, so "one future both children wait on" is a signal both
        // wait on; its waiters are what gets cancelled.
        let shared: Signal<()> = Signal::new();
        let home: Home = Rc::default();
        let child = |name| {
            let (log, shared, proof) = (log.clone(), shared.clone(), proof.clone());
            async move {
                let w = watch(&log, name);
                shared.wait().await;
                proof.set(proof.get() + 1);
                w.finish();
                0
            }
        };
        let (c1, c2) = (child("child1"), child("child2"));
        let mut f = spawn({
            let (home, proof) = (home.clone(), proof.clone());
            async move {
                let mut keep = PutBack {
                    gather: Some(gather([c1, c2])),
                    home,
                };
                let out = keep.gather.as_mut().expect("just put").await;
                proof.set(proof.get() + 100);
                out
            }
        });
        settle().await;
        assert_eq!(
            shared.waiting(),
            2,
            "setup: both children wait on the signal"
        );
        assert!(f.cancel(), "f is pending, so cancel() returns true");
        assert_eq!((&mut f).await, Err(TaskError::Cancelled));
        settle().await;
        let mut seen = entries(&log);
        seen.sort();
        assert_eq!(
            seen,
            ["child1 cancelled", "child2 cancelled"],
            "cancelling f cancels the gather it awaits and both children (G14)"
        );
        assert_eq!(
            shared.waiting(),
            0,
            "nobody waits on the shared signal any more"
        );
        let gatherer = home.borrow_mut().take().expect("the gather was put back");
        assert!(
            gatherer.is_done() && gatherer.is_cancelled(),
            "the gather ended cancelled (G8)"
        );
        assert!(
            !gatherer.cancel(),
            "already done: cancel() returns false (G7)"
        );
        shared.set(());
        settle().await;
        assert_eq!(proof.get(), 0, "neither the children nor f ever resumed");
    });
}

// ------------------------------------------------------------------------------------------------
// SH1: shield
// ------------------------------------------------------------------------------------------------

// CPython: test_tasks.py::test_shield_result
// SH1
#[test]
fn shield_result_the_awaiter_gets_the_tasks_value() {
    run(async {
        let log = new_log();
        let s = Signal::new();
        let inner = spawn(plain_child(&log, "inner", &s));
        let outer = spawn(shield(inner).into_future());
        settle().await;
        assert!(!outer.is_done(), "the shielded task has not finished");
        s.set(Out::Val(42));
        assert_eq!(outer.await, Ok(Ok(42)), "the awaiter of the shield gets 42");
    });
}

// CPython: test_tasks.py::test_shield_exception
// SH1
#[test]
fn shield_exception_the_awaiter_gets_the_tasks_panic() {
    let (out, reports) = with_handler(|_| async {
        let log = new_log();
        let s = Signal::new();
        let inner = spawn(plain_child(&log, "inner", &s));
        let outer = spawn(shield(inner).into_future());
        settle().await;
        s.set(Out::Panic("exc"));
        outer.await
    });
    let out = out.expect("the awaiting task itself was not cancelled");
    assert_panic(&out, "exc", "the awaiter of the shield");
    assert!(
        reports.is_empty(),
        "the panic was retrieved through the shield, so it is not reported: {reports:?}"
    );
}

// CPython: test_tasks.py::test_shield_cancel_inner
// SH1
#[test]
fn shield_cancel_inner_cancelling_the_task_reaches_the_awaiter() {
    run(async {
        let log = new_log();
        let s = Signal::new();
        let inner = spawn(plain_child(&log, "inner", &s));
        // Rust: the shield owns the task's handle, so the task is cancelled before it is shielded.
        assert!(inner.cancel());
        let outer = spawn(shield(inner).into_future());
        assert_eq!(
            outer.await,
            Ok(Err(TaskError::Cancelled)),
            "cancelling the shielded task itself propagates to the awaiter (SH1)"
        );

        // The same through a gather: a cancelled shielded task is a failed child (G5).
        let inner = spawn(std::future::pending::<u8>());
        assert!(inner.cancel());
        let mut g = gather([shield(inner)]);
        assert_eq!((&mut g).await, Err(TaskError::Cancelled));
        assert!(
            !g.is_cancelled(),
            "the child was cancelled, not the gather (G5)"
        );
    });
}

// CPython: test_tasks.py::test_shield_cancel_outer
// SH1
#[test]
fn shield_cancel_outer_leaves_the_task_running() {
    run(async {
        let log = new_log();
        let s = Signal::new();
        let inner = spawn(plain_child(&log, "inner", &s));
        let mut outer = spawn({
            let log = log.clone();
            async move {
                let out = shield(inner).await;
                note(&log, "after the shield");
                out
            }
        });
        settle().await;
        assert!(outer.cancel());
        assert_eq!((&mut outer).await, Err(TaskError::Cancelled));
        assert!(outer.is_cancelled(), "the awaiter is cancelled (SH1)");
        settle().await;
        assert!(
            entries(&log).is_empty(),
            "the shielded task was left untouched (SH1): {:?}",
            entries(&log)
        );
        s.set(Out::Val(1));
        settle().await;
        assert_eq!(
            entries(&log),
            ["inner finished"],
            "the shielded task ran to its end; the code after the shield never ran"
        );
    });
}

// CPython: test_tasks.py::test_shield_cancel_outer_result
// SH1
#[test]
fn shield_cancel_outer_result_a_late_success_is_not_reported() {
    let ((), reports) = with_handler(|reports| async move {
        let log = new_log();
        let s = Signal::new();
        let inner = spawn(plain_child(&log, "inner", &s));
        let outer = spawn(shield(inner).into_future());
        settle().await;
        assert!(outer.cancel());
        assert_eq!(outer.await, Err(TaskError::Cancelled));
        s.set(Out::Val(1));
        settle().await;
        assert_eq!(
            entries(&log),
            ["inner finished"],
            "setup: the task succeeded"
        );
        assert!(
            entries(&reports).is_empty(),
            "a late success of a shielded task is not reported (SH1): {:?}",
            entries(&reports)
        );
    });
    assert!(reports.is_empty(), "nothing reported: {reports:?}");
}

// CPython: test_tasks.py::test_shield_cancel_outer_exception
// SH1
#[test]
fn shield_cancel_outer_exception_a_late_panic_is_reported_exactly_once() {
    let ((), reports) = with_handler(|reports| async move {
        let log = new_log();
        let s = Signal::new();
        let inner = spawn(plain_child(&log, "inner", &s));
        let outer = spawn(shield(inner).into_future());
        settle().await;
        assert!(outer.cancel());
        assert_eq!(outer.await, Err(TaskError::Cancelled));
        assert!(entries(&reports).is_empty(), "nothing to report yet");
        s.set(Out::Panic("foo"));
        settle().await;
        assert_eq!(
            entries(&log),
            ["inner panicked"],
            "setup: the task panicked"
        );
        assert_eq!(
            entries(&reports).len(),
            1,
            "the late panic of a shielded task is reported through the exception handler once \
             (SH1): {:?}",
            entries(&reports)
        );
    });
    assert_eq!(
        reports.len(),
        1,
        "exactly one report, also after the loop closed: {reports:?}"
    );
    assert!(
        reports[0].contains("foo"),
        "the report carries the panic: {:?}",
        reports[0]
    );
}

// CPython: test_tasks.py::test_shield_shortcut
// SH1
#[test]
fn shield_shortcut_a_finished_task_gives_its_value_at_the_first_poll() {
    run(async {
        let task = spawn(async { 42 });
        settle().await;
        assert!(task.is_done(), "setup: the task finished");
        let mut fut = shield(task).into_future();
        let first = Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop()));
        assert_eq!(
            first,
            Poll::Ready(Ok(42)),
            "shield() of a finished task is ready at once"
        );
    });
}

// CPython: test_tasks.py::test_shield_effect
// SH1
#[test]
fn shield_effect_cancelling_the_awaiter_does_not_cancel_the_shielded_work() {
    run(async {
        let proof = Rc::new(Cell::new(0));
        let mut outer = spawn({
            let proof = proof.clone();
            async move {
                let p = proof.clone();
                // Rust: shield() takes a task, so the coroutine is spawned first.
                let inner = spawn(async move {
                    turns(3).await;
                    p.set(p.get() + 1);
                });
                let _ = shield(inner).await;
                proof.set(proof.get() + 100);
            }
        });
        yield_now().await;
        assert_eq!(proof.get(), 0, "setup: inner has not finished yet");
        assert!(outer.cancel());
        assert_eq!((&mut outer).await, Err(TaskError::Cancelled));
        settle().await;
        assert_eq!(
            proof.get(),
            1,
            "inner ran to its end (SH1), and the code after the shield never ran"
        );
    });
}

// CPython: test_tasks.py::test_gather_shield
// SH1 G8
#[test]
fn gather_shield_cancelling_the_gather_stops_at_the_shields() {
    run(async {
        let log = new_log();
        let [s1, s2] = signals();
        let c1 = spawn(plain_child(&log, "c1", &s1));
        let c2 = spawn(plain_child(&log, "c2", &s2));
        let mut parent = gather([shield(c1), shield(c2)]);
        settle().await;
        assert!(parent.cancel(), "both shields accept the cancellation");
        assert_eq!(
            (&mut parent).await,
            Err(TaskError::Cancelled),
            "the parent ends Cancelled (G8)"
        );
        assert!(parent.is_cancelled());
        assert!(
            entries(&log).is_empty(),
            "c1 and c2 are not cancelled (SH1): {:?}",
            entries(&log)
        );
        s1.set(Out::Val(1));
        s2.set(Out::Val(2));
        settle().await;
        assert_eq!(
            entries(&log),
            ["c1 finished", "c2 finished"],
            "their results can still be set"
        );
    });
}

// SH1
#[test]
fn sh1_a_shielded_task_failing_after_its_gather_was_cancelled_is_reported_once() {
    let ((), reports) = with_handler(|_| async {
        let log = new_log();
        let [s1, s2] = signals();
        let c1 = spawn(plain_child(&log, "c1", &s1));
        let c2 = spawn(plain_child(&log, "c2", &s2));
        let mut parent = gather([shield(c1), shield(c2)]);
        settle().await;
        assert!(parent.cancel());
        assert_eq!((&mut parent).await, Err(TaskError::Cancelled));
        s1.set(Out::Panic("late c1"));
        s2.set(Out::Val(2));
        settle().await;
        assert_eq!(entries(&log), ["c1 panicked", "c2 finished"]);
    });
    assert_eq!(
        reports.len(),
        1,
        "c1's late panic is reported once, c2's late success not at all (SH1): {reports:?}"
    );
    assert!(reports[0].contains("late c1"), "{:?}", reports[0]);
}

// CPython: test_tasks.py::test_shield_gather
// SH1. R: `shield` takes a task, so the gather is run as one (`spawn(gather(..))`), which is what
// CPython's `shield` does to a gather too (it wraps it in an outer future).
#[test]
fn shield_gather_cancelling_the_outer_leaves_the_gather_to_finish() {
    run(async {
        let log = new_log();
        let [s1, s2] = signals();
        let c1 = plain_child(&log, "c1", &s1);
        let c2 = plain_child(&log, "c2", &s2);
        let mut inner = spawn(gather!(c1, c2).into_future());
        let waiter = spawn(async move {
            let out = shield(&mut inner).await;
            (out, inner)
        });
        settle().await;
        assert!(waiter.cancel());
        assert_eq!(
            waiter.await.map(|_| ()),
            Err(TaskError::Cancelled),
            "the outer is cancelled"
        );
        s1.set(Out::Val(1));
        s2.set(Out::Val(2));
        settle().await;
        assert_eq!(
            entries(&log),
            ["c1 finished", "c2 finished"],
            "the gather ran on"
        );
    });
}
