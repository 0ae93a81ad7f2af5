//! Seed program 9: `is_done()` before and after awaiting a gather.

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
        let mut obj = gather([spawn(square(10)), spawn(cube(10))]);
        println!("done:  {:?}", obj.is_done());
        println!("{:?}", (&mut obj).await?);
        println!("done:  {:?}", obj.is_done());
        Ok(())
    })
}
