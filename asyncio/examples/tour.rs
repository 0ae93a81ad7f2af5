//! The tour: the nine programs of the asyncio.gather tutorial, in order, each under a heading.
//!
//! Each program is also an example of its own (`cargo run --example results`, ...). Where the
//! Python program ends in a traceback, the Rust one returns the error, printed here on stderr as
//! `Error: ...`, just as its own `main` would print it before exiting with code 1.

#[path = "cancel.rs"]
mod cancel;
#[path = "done.rs"]
mod done;
#[path = "exception_propagates.rs"]
mod exception_propagates;
#[path = "interleave.rs"]
mod interleave;
#[path = "mixed.rs"]
mod mixed;
#[path = "nested.rs"]
mod nested;
#[path = "results.rs"]
mod results;
#[path = "return_exceptions.rs"]
mod return_exceptions;
#[path = "unawaited.rs"]
mod unawaited;

use std::fmt::Debug;
use std::io::Write;

fn heading(n: u32, name: &str, what: &str) {
    println!();
    println!("=== {n}. {name}: {what} ===");
}

fn report<E: Debug>(result: Result<(), E>) {
    std::io::stdout().flush().ok();
    if let Err(e) = result {
        eprintln!("Error: {e:?}");
    }
}

fn main() {
    println!("asyncio for Rust: the gather tutorial, program by program");
    heading(
        1,
        "interleave",
        "two gathered coroutines take turns at each sleep",
    );
    interleave::main();
    heading(
        2,
        "unawaited",
        "a gather nobody awaits is pending; its children never run",
    );
    unawaited::main();
    heading(3, "results", "results in the order of the arguments");
    report(results::main());
    heading(
        4,
        "exception_propagates",
        "the first error propagates out of the gather",
    );
    report(exception_propagates::main());
    heading(
        5,
        "return_exceptions",
        "errors returned in place among the results",
    );
    report(return_exceptions::main());
    heading(6, "nested", "gathers of gathers");
    report(nested::main());
    heading(7, "mixed", "a gather and coroutines together");
    report(mixed::main());
    heading(8, "cancel", "awaiting a cancelled gather");
    report(cancel::main());
    heading(9, "done", "is_done() before and after");
    report(done::main());
}
