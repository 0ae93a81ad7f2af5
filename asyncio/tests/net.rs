//! Sockets on the loop (issue 4): TCP, UDP and Unix streams over loopback, with the faults a
//! program meets — refused connects, half-closes, resets, use on the wrong loop — as typed errors.
//!
//! Every test runs under a watchdog (a lost wake would hang, so it fails instead), uses only
//! 127.0.0.1 with ephemeral ports, and asserts outcomes, never durations.

mod common;

use common::watchdog;
use std::future::poll_fn;
use std::io::ErrorKind;
use std::net::Shutdown;
use std::pin::Pin;
use std::time::Duration;

use asyncio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use asyncio::{gather, run, spawn, yield_now, EventLoop};
use futures_io::{AsyncRead, AsyncWrite};

async fn read_to_end(s: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0; 1024];
    loop {
        match s.read(&mut buf).await? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn tcp_echo_round_trip_over_loopback() {
    watchdog("echo", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(async move {
                let (conn, peer) = listener.accept().await.unwrap();
                assert!(peer.ip().is_loopback());
                let data = read_to_end(&conn).await.unwrap();
                conn.write_all(&data).await.unwrap();
            });
            let client = TcpStream::connect(addr).await.unwrap();
            client.write_all(b"hello loop").await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_to_end(&client).await.unwrap(), b"hello loop");
            server.await.unwrap();
        })
    });
}

#[test]
fn connecting_to_a_port_nobody_listens_on_is_refused() {
    watchdog("refused", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            let err = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        })
    });
}

#[test]
fn a_half_closed_stream_reads_eof_and_can_still_reply() {
    watchdog("half-close", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.write_all(b"question").await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_to_end(&server).await.unwrap(), b"question");
            // Reading again after end-of-file gives end-of-file again, not an error.
            assert_eq!(server.read(&mut [0; 8]).await.unwrap(), 0);
            server.write_all(b"answer").await.unwrap();
            drop(server);
            assert_eq!(read_to_end(&client).await.unwrap(), b"answer");
        })
    });
}

#[test]
fn a_peer_that_resets_mid_read_gives_connection_reset() {
    watchdog("reset", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.write_all(b"never read").await.unwrap();
            // On loopback the bytes are in the server's receive buffer once the write returned;
            // closing it with unread data makes the kernel answer with a reset, not an EOF.
            drop(server);
            let err = loop {
                match client.read(&mut [0; 16]).await {
                    Ok(0) => panic!("expected a reset, got an orderly end-of-file"),
                    Ok(_) => continue,
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        })
    });
}

#[test]
fn writing_to_a_peer_that_is_gone_is_an_error_not_a_panic() {
    watchdog("write after peer close", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            drop(server);
            let chunk = vec![7u8; 64 * 1024];
            let err = loop {
                if let Err(e) = client.write_all(&chunk).await {
                    break e;
                }
            };
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                ),
                "{err:?}"
            );
        })
    });
}

#[test]
fn many_concurrent_connections_each_get_their_own_reply() {
    watchdog("concurrent", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(async move {
                loop {
                    let (conn, _) = listener.accept().await.unwrap();
                    spawn(async move {
                        let data = read_to_end(&conn).await.unwrap();
                        conn.write_all(&data).await.unwrap();
                    });
                }
            });
            let clients = (0..50u32).map(|i| async move {
                let s = TcpStream::connect(addr).await.unwrap();
                let msg = format!("client {i}").repeat(100);
                s.write_all(msg.as_bytes()).await.unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                read_to_end(&s).await.unwrap() == msg.as_bytes()
            });
            let ok = gather(clients).await.unwrap();
            assert!(ok.iter().all(|&b| b));
            server.cancel();
        })
    });
}

#[test]
fn a_large_transfer_waits_for_writability_without_losing_bytes() {
    watchdog("large", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
            let expected = data.clone();
            let (client_r, client_w) = client.into_split();
            let writer = spawn(async move {
                client_w.write_all(&data).await.unwrap();
                client_w.shutdown().unwrap();
            });
            let echo = spawn(async move {
                let got = read_to_end(&server).await.unwrap();
                server.write_all(&got).await.unwrap();
            });
            let mut back = Vec::new();
            let mut buf = vec![0; 65536];
            loop {
                match client_r.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => back.extend_from_slice(&buf[..n]),
                }
            }
            writer.await.unwrap();
            echo.await.unwrap();
            assert!(back == expected, "the echoed bytes differ");
        })
    });
}

#[test]
fn streams_implement_futures_io_traits() {
    watchdog("futures-io", || {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            let n = poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"trait"))
                .await
                .unwrap();
            assert_eq!(n, 5);
            poll_fn(|cx| Pin::new(&mut client).poll_flush(cx))
                .await
                .unwrap();
            poll_fn(|cx| Pin::new(&mut client).poll_close(cx))
                .await
                .unwrap();
            let mut buf = [0; 8];
            let n = poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf))
                .await
                .unwrap();
            assert_eq!(&buf[..n], b"trait");
            let n = poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf))
                .await
                .unwrap();
            assert_eq!(n, 0, "poll_close half-closes");
        })
    });
}

#[test]
fn an_accept_abandoned_midway_leaves_the_listener_usable() {
    watchdog("abandoned accept", || {
        run(async {
            let listener = std::rc::Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let l = listener.clone();
            let waiting = spawn(async move {
                let _ = l.accept().await;
            });
            yield_now().await;
            assert!(waiting.cancel());
            assert!(waiting.await.unwrap_err().is_cancelled());
            let addr = listener.local_addr().unwrap();
            let client = spawn(async move { TcpStream::connect(addr).await.map(drop) });
            listener.accept().await.unwrap();
            client.await.unwrap().unwrap();
        })
    });
}

#[test]
fn a_socket_used_on_another_loop_is_refused_with_an_error() {
    watchdog("wrong loop", || {
        let first = EventLoop::new();
        let (stream, _keep) = first.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let s = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let accepted = listener.accept().await.unwrap();
            (s, accepted)
        });
        let second = EventLoop::new();
        let err = second
            .run_until_complete(async { stream.read(&mut [0; 4]).await })
            .unwrap_err();
        assert!(err.to_string().contains("another event loop"), "{err}");
    });
}

#[test]
#[should_panic(expected = "outside a running event loop")]
fn binding_outside_a_running_loop_panics_with_a_clear_message() {
    let _ = TcpListener::bind("127.0.0.1:0");
}

#[test]
fn an_unresolvable_host_is_an_error() {
    watchdog("bad host", || {
        run(async {
            let err = TcpStream::connect("256.256.256.256:80").await.unwrap_err();
            assert!(!err.to_string().is_empty());
        })
    });
}

#[test]
fn udp_datagrams_round_trip_and_connected_sockets_filter_peers() {
    watchdog("udp", || {
        run(async {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b_addr = b.local_addr().unwrap();
            let receiver = spawn(async move {
                let mut buf = [0; 64];
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                b.send_to(&buf[..n], from).await.unwrap();
            });
            a.send_to(b"ping", b_addr).await.unwrap();
            let mut buf = [0; 64];
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"ping"[..], b_addr));
            receiver.await.unwrap();
            // Not connected: no default peer ("destination address required").
            assert!(a.send(b"nobody").await.is_err());
        })
    });
}

#[test]
fn unix_streams_carry_bytes_and_half_close() {
    watchdog("unix", || {
        let dir = std::env::temp_dir().join(format!("asyncio-net-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let p = path.clone();
        run(async move {
            let listener = UnixListener::bind(&p).unwrap();
            let client = spawn(async move {
                let s = UnixStream::connect(&p).await.unwrap();
                s.write_all(b"unix").await.unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut buf = [0; 4];
                s.read_exact(&mut buf).await.unwrap();
                buf
            });
            let (server, _) = listener.accept().await.unwrap();
            let mut buf = [0; 4];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(server.read(&mut [0; 1]).await.unwrap(), 0);
            server.write_all(&buf).await.unwrap();
            assert_eq!(&client.await.unwrap(), b"unix");
        });
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = run(UnixStream::connect(dir.join("gone.sock"))).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
    });
}

#[test]
fn a_read_after_the_peer_closed_gives_eof_every_time() {
    watchdog("read after close", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            drop(a);
            for _ in 0..3 {
                assert_eq!(b.read(&mut [0; 4]).await.unwrap(), 0);
            }
            let err = b.read_exact(&mut [0; 4]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
        })
    });
}

// L4: I/O is collected every turn, even while other tasks are always ready.
#[test]
fn tasks_that_never_stop_yielding_cannot_starve_io() {
    watchdog("busy loop", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let done = std::rc::Rc::new(std::cell::Cell::new(false));
            let d = done.clone();
            let spinner = spawn(async move {
                while !d.get() {
                    yield_now().await;
                }
            });
            let reader = spawn(async move {
                let mut buf = [0; 4];
                b.read_exact(&mut buf).await.unwrap();
                buf
            });
            yield_now().await; // the reader is now waiting for readiness
            a.write_all(b"ping").await.unwrap();
            assert_eq!(&reader.await.unwrap(), b"ping");
            done.set(true);
            spinner.await.unwrap();
        })
    });
}

// The toolkit's timeout works on I/O: a read abandoned at its deadline leaves the stream usable.
#[test]
fn a_read_that_times_out_leaves_the_stream_usable() {
    watchdog("read timeout", || {
        // Virtual time: the loop, idle, jumps to the deadline at once.
        EventLoop::with_virtual_time().run_until_complete(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut buf = [0; 4];
            let r = asyncio::timeout(Duration::from_secs(5), b.read(&mut buf)).await;
            assert!(r.is_err(), "nothing was sent, so the read timed out");
            a.write_all(b"late").await.unwrap();
            b.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"late");
        })
    });
}
