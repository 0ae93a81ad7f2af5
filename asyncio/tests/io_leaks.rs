//! No leaked registration or descriptor (issue 4): after a loop has gone through the faults a
//! program meets — refused connects, resets, half-closes, lines over the limit, a closed server,
//! an abandoned accept, subprocesses that are not found, die early or are killed, signals — and
//! has been dropped, the process holds exactly the file descriptors it
//! held before.
//!
//! This file holds one test on purpose: tests of one binary run in parallel threads, and any
//! other test's sockets would move the count.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::rc::Rc;

use asyncio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use asyncio::streams::{StreamError, StreamReader};
use asyncio::{open_connection, spawn, start_server, yield_now, EventLoop};

fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd lists this process's descriptors (Linux)")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn the_descriptor_count_returns_to_its_start_after_faults_and_drops() {
    let before = open_fds();
    let lp = EventLoop::new();
    lp.run_until_complete(async {
        // A refused connect.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);

        // A server with clients that half-close, overrun the limit, and reset.
        let server = start_server(
            |mut r, mut w| async move {
                match r.readline().await {
                    Ok(line) => {
                        let _ = w.write_all(&line).await;
                    }
                    Err(StreamError::LimitOverrun { .. }) => w.close(),
                    Err(_) => {}
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        for _ in 0..5 {
            let (mut r, mut w) = open_connection("127.0.0.1", server.port()).await.unwrap();
            w.write_all(b"ok\n").await.unwrap();
            w.write_eof();
            assert_eq!(r.read_to_end().await.unwrap(), b"ok\n");
            let (mut r, mut w) = open_connection("127.0.0.1", server.port()).await.unwrap();
            w.write_all(&vec![b'x'; 200_000]).await.ok();
            let _ = r.read_to_end().await;
        }
        server.close();
        server.wait_closed().await;

        // A reset read.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        client.write_all(b"unread").await.unwrap();
        drop(conn);
        assert!(client.read(&mut [0; 8]).await.is_err());
        client.shutdown(Shutdown::Both).ok();

        // An accept abandoned midway.
        let listener = Rc::new(listener);
        let l = listener.clone();
        let waiting = spawn(async move { l.accept().await.map(drop) });
        yield_now().await;
        waiting.cancel();
        let _ = waiting.await;

        // Unix and UDP.
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"line too long\n").await.unwrap();
        drop(a);
        let mut r = StreamReader::with_limit(b, 4);
        assert!(r.readline().await.is_err());
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.send_to(b"x", u.local_addr().unwrap()).await.unwrap();
        u.recv_from(&mut [0; 4]).await.unwrap();

        // Subprocesses: one not found, one that dies before reading, one killed, one dropped.
        assert!(asyncio::create_subprocess_exec("no-such-program-asyncio", ["x"]).is_err());
        let early = asyncio::create_subprocess_exec("sh", ["-c", "exit 0"]).unwrap();
        early.communicate(Some(&[0; 100_000])).await.unwrap();
        let mut killed = asyncio::create_subprocess_exec("sleep", ["30"]).unwrap();
        killed.kill().unwrap();
        killed.wait().await.unwrap();
        drop(asyncio::create_subprocess_exec("true", [] as [&str; 0]).unwrap());

        // A signal listener.
        let usr1 = asyncio::signal::Signal::new(asyncio::signal::consts::SIGUSR1).unwrap();
        asyncio::signal::raise(asyncio::signal::consts::SIGUSR1).unwrap();
        usr1.recv().await.unwrap();
        drop(usr1);

        // A blocking call.
        assert_eq!(asyncio::to_thread(|| 1).await, 1);
    });
    drop(lp);
    // A waker of the loop may still be held for a moment by the blocking pool's thread, which
    // wakes and then drops it (with it the loop's eventfd): allow it a bounded while to do so.
    let mut after = open_fds();
    for _ in 0..200 {
        if after.len() == before.len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        after = open_fds();
    }
    assert_eq!(
        after.len(),
        before.len(),
        "file descriptors leaked: {after:#?} vs {before:#?}"
    );
}
