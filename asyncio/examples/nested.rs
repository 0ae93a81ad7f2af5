//! Seed program 6: gathers nest; each inner gather's results are one slot of the outer's.

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
        let group2 = gather([spawn(square(20)), spawn(cube(20))]);

        let return_values = gather([group1, group2]).await?;
        println!("{return_values:?}");
        println!("Finished");
        Ok(())
    })
}
