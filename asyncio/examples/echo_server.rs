//! asyncio's streams echo server: every line a client sends comes back to it.
//!
//! ```text
//! cargo run --example echo_server            # serves on 127.0.0.1:8888 until Ctrl-C
//! cargo run --example echo_server -- 0       # any free port
//! ```
//! Try it with `nc 127.0.0.1 8888`. The Python original:
//! ```python
//! async def handle_echo(reader, writer):
//!     while line := await reader.readline():
//!         writer.write(line)
//!         await writer.drain()
//!     writer.close()
//!     await writer.wait_closed()
//!
//! async def main():
//!     server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//!     print(f'Serving on {server.sockets[0].getsockname()}')
//!     async with server:
//!         await server.serve_forever()
//! ```

use asyncio::{StreamError, StreamReader, StreamWriter};

/// Echoes each line until the client closes its side; then closes ours.
pub async fn handle_echo(
    mut reader: StreamReader,
    mut writer: StreamWriter,
) -> Result<(), StreamError> {
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            break; // the client sent end-of-file
        }
        writer.write(&line);
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

#[allow(dead_code)] // also compiled as a module of gather_clients, which has its own main
fn main() -> std::io::Result<()> {
    let port = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the port must be a number from 0 to 65535 ({e})"),
            )
        })?,
        None => 8888,
    };
    asyncio::run(async move {
        let server = asyncio::start_server(
            |r, w| async move {
                if let Err(e) = handle_echo(r, w).await {
                    eprintln!("client dropped: {e}");
                }
            },
            "127.0.0.1",
            port,
        )
        .await?;
        println!("Serving on {}", server.local_addr().expect("a TCP server"));
        server.serve_forever().await;
        Ok(())
    })
}
