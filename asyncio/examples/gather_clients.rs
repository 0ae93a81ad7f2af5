//! 1,000 concurrent clients against the echo server, in one program, gathered.
//!
//! Starts the echo server of `echo_server.rs` on 127.0.0.1 with an ephemeral port, then gathers
//! the clients; each sends its messages one at a time and checks every reply. Prints one line
//! (messages, bytes, seconds, messages per second) and exits 0 only if every reply matched.
//!
//! ```text
//! cargo run --release --example gather_clients                      # 1000 clients x 100 messages
//! cargo run --release --example gather_clients -- --clients 10 --messages 5
//! ```

#[path = "echo_server.rs"]
mod echo_server;

use std::process::ExitCode;
use std::time::Instant;

use asyncio::{gather, open_connection, start_server, StreamError};

/// One client: sends `messages` lines and checks each echo; returns the bytes echoed.
async fn client(id: usize, messages: usize, port: u16) -> Result<usize, String> {
    let (mut reader, mut writer) = open_connection("127.0.0.1", port).await.map_err(|e| {
        let hint = if e.raw_os_error() == Some(24) {
            " (out of file descriptors: raise `ulimit -n` above twice the client count)"
        } else {
            ""
        };
        format!("client {id}: connect failed: {e}{hint}")
    })?;
    let mut bytes = 0;
    for m in 0..messages {
        let line = format!("client {id} says hello number {m}\n");
        let io = |e: StreamError| format!("client {id}, message {m}: {e}");
        writer.write(line.as_bytes());
        writer.drain().await.map_err(io)?;
        let reply = reader.readline().await.map_err(io)?;
        if reply != line.as_bytes() {
            return Err(format!(
                "client {id}, message {m}: sent {line:?}, got back {:?}",
                String::from_utf8_lossy(&reply)
            ));
        }
        bytes += reply.len();
    }
    writer.write_eof();
    Ok(bytes)
}

fn arg(name: &str, default: usize) -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number, e.g. {name} {default}")),
    }
}

fn main() -> ExitCode {
    let (clients, messages) = match (arg("--clients", 1000), arg("--messages", 100)) {
        (Ok(c), Ok(m)) => (c, m),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = asyncio::run(async move {
        let server = start_server(
            |r, w| async move {
                let _ = echo_server::handle_echo(r, w).await;
            },
            "127.0.0.1",
            0,
        )
        .await
        .map_err(|e| format!("could not start the echo server: {e}"))?;
        let port = server.port();
        let start = Instant::now();
        let results = gather((0..clients).map(|id| client(id, messages, port)))
            .await
            .map_err(|e| format!("the gather failed: {e}"))?;
        let seconds = start.elapsed().as_secs_f64();
        server.close();
        server.wait_closed().await;
        Ok::<_, String>((results, seconds))
    });
    let (results, seconds) = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let bytes: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    let total = clients * messages;
    println!(
        "{clients} clients x {messages} messages: {total} messages, {bytes} bytes echoed in \
         {seconds:.3} s ({:.0} messages/s); {}",
        total as f64 / seconds,
        if failures.is_empty() {
            "every reply matched".to_string()
        } else {
            format!("{} clients FAILED", failures.len())
        }
    );
    for f in failures.iter().take(5) {
        eprintln!("{f}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
