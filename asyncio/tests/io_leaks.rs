//! No leaked registration or descriptor (issue 4): after a loop has gone through the faults a
//! program meets — refused connects, resets, half-closes, lines over the limit, a closed server,
//! an abandoned accept — and has been dropped, the process holds exactly the file descriptors it
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

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd lists this process's descriptors (Linux)")
        .count()
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
    });
    drop(lp);
    assert_eq!(open_fds(), before, "file descriptors leaked");
}
