//! Seed program 5: with `return_exceptions`, the failure takes its place among the results.

use asyncio::{run, sleep, spawn, try_gather, TaskError};
use std::num::ParseIntError;
use std::time::Duration;

async fn square(num: &str) -> Result<i64, ParseIntError> {
    sleep(Duration::from_millis(1)).await; // simulate a small delay
    Ok(num.parse::<i64>()?.pow(2))
}

async fn cube(num: &str) -> Result<i64, ParseIntError> {
    sleep(Duration::from_millis(1)).await; // simulate a small delay
    Ok(num.parse::<i64>()?.pow(3))
}

pub fn main() -> Result<(), TaskError> {
    run(async {
        println!("Started");
        let return_values = try_gather([
            spawn(square("10")),
            spawn(cube("10")),
            spawn(square("eleven")),
            spawn(cube("11")),
        ])
        .return_exceptions()
        .await?;
        println!("{return_values:?}");
        println!("Finished");
        Ok(())
    })
}
