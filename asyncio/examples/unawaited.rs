//! Seed program 2: a gather that is never awaited is still pending when printed, and its children
//! never run: `run` cancels them when `main` returns.

use asyncio::{gather, run, sleep, spawn};
use std::time::Duration;

async fn square(num: i64) -> i64 {
    sleep(Duration::from_millis(1)).await; // simulate a small delay
    num.pow(2)
}

async fn cube(num: i64) -> i64 {
    sleep(Duration::from_millis(1)).await; // simulate a small delay
    num.pow(3)
}

pub fn main() {
    run(async {
        let result = gather([
            spawn(square(10)),
            spawn(cube(10)),
            spawn(square(11)),
            spawn(cube(11)),
        ])
        .return_exceptions();
        println!("{result:?}");
    })
}
