//! Seed program 1: two gathered coroutines interleave at every `sleep`.
//!
//! Prints `Started`, then `0 A 1 B 2 C 3 D 4 E` one per line, then `Finished`.

use asyncio::{run, sleep};
use std::time::Duration;

async fn display_nums() {
    for n in 0..5 {
        println!("{n}");
        sleep(Duration::from_millis(1)).await; // simulate a small delay
    }
}

async fn display_letters() {
    for letter in ['A', 'B', 'C', 'D', 'E'] {
        println!("{letter}");
        sleep(Duration::from_millis(1)).await; // simulate a small delay
    }
}

pub fn main() {
    run(async {
        println!("Started");
        asyncio::gather!(display_nums(), display_letters())
            .await
            .expect("neither child fails");
        println!("Finished");
    })
}
