//! Ctrl-C under `asyncio::run`, as `asyncio.run` handles it: main is cancelled, the clean-up of
//! every task runs, and the program ends as interrupted.
//!
//! ```text
//! cargo run --example ctrl_c      # then press Ctrl-C
//! ```

use std::future::pending;
use std::io::Write;

/// Prints when dropped: a task's clean-up.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("{}", self.0);
        let _ = std::io::stdout().flush();
    }
}

fn main() {
    asyncio::run(async {
        let _main = Cleanup("main cancelled");
        asyncio::spawn(async {
            let _worker = Cleanup("worker cleaned up");
            pending::<()>().await;
        })
        .detach();
        asyncio::yield_now().await; // the worker is running
        println!("ready: press Ctrl-C");
        let _ = std::io::stdout().flush();
        pending::<()>().await;
    });
    println!("not reached: run() does not return after Ctrl-C");
}
