//! Seed program 4: the first failure propagates out of the awaited gather (Python's traceback is
//! Rust's `Error: ...` on stderr, with exit code 1).

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

pub fn main() -> Result<(), TaskError<ParseIntError>> {
    run(async {
        println!("Started");
        let return_values = try_gather([
            spawn(square("10")),
            spawn(cube("10")),
            spawn(square("eleven")),
            spawn(cube("11")),
        ])
        .await?;
        println!("{return_values:?}");
        println!("Finished");
        Ok(())
    })
}
