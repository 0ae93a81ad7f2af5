//! Seed program 8: awaiting a cancelled gather gives `Err(Cancelled)` (Python raises
//! `CancelledError`; Rust prints `Error: Cancelled` on stderr and exits with code 1).

use asyncio::{gather, run, sleep, spawn, TaskError};
use std::time::Duration;

async fn square(num: i64) -> i64 {
    sleep(Duration::from_millis(1)).await; // simulate a small delay
    num.pow(2)
}

async fn cube(num: i64) -> i64 {
    sleep(Duration::from_millis(1)).await; // simulate a small delay
    num.pow(3)
}

pub fn main() -> Result<(), TaskError> {
    run(async {
        let obj = gather([spawn(square(10)), spawn(cube(10))]);
        obj.cancel();
        obj.await?; // this will return the error
        Ok(())
    })
}
