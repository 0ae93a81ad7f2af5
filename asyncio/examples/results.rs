//! Seed program 3: results come back in the order of the arguments.

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
        let return_values = gather([
            spawn(square(10)),
            spawn(cube(10)),
            spawn(square(11)),
            spawn(cube(11)),
        ])
        .await?;
        println!("{return_values:?}");
        println!("Finished");
        Ok(())
    })
}
