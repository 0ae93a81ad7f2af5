//! Seed program 7: a gather and plain coroutines in one gather (a tuple in Rust).

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
        println!("Started");
        let group1 = gather([spawn(square(10)), spawn(cube(10))]);

        let return_values = asyncio::gather!(group1, square(20), square(30)).await?;
        println!("{return_values:?}");
        println!("Finished");
        Ok(())
    })
}
