//! asyncio streams (issue 4): open_connection / start_server, StreamReader's reads by size and by
//! separator with its limit, StreamWriter's buffering, drain, half-close and close, and the typed
//! errors for an early end, a long line, a reset and a use after close. Loopback only, under a
//! watchdog; no durations asserted.

mod common;

use common::watchdog;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;

use asyncio::net::UnixStream;
use asyncio::streams::{split, StreamError, StreamReader, StreamWriter};
use asyncio::{gather, open_connection, run, start_server, yield_now, EventLoop};

/// A reader over a pipe that already holds `data` and then ends.
async fn reader_of(data: &[u8], limit: usize) -> StreamReader {
    let (a, b) = UnixStream::pair().unwrap();
    a.write_all(data).await.unwrap();
    drop(a);
    StreamReader::with_limit(b, limit)
}

#[test]
fn an_echo_server_answers_each_line_of_many_clients() {
    watchdog("echo", || {
        run(async {
            let server = start_server(
                |mut reader, mut writer| async move {
                    loop {
                        let line = reader.readline().await.unwrap();
                        if line.is_empty() {
                            break;
                        }
                        writer.write_all(&line).await.unwrap();
                    }
                    writer.close();
                },
                "127.0.0.1",
                0,
            )
            .await
            .unwrap();
            let port = server.port();
            let clients = (0..20).map(|i| async move {
                let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
                for j in 0..10 {
                    let msg = format!("client {i} line {j}\n");
                    w.write_all(msg.as_bytes()).await.unwrap();
                    assert_eq!(r.readline().await.unwrap(), msg.as_bytes());
                }
                w.write_eof();
                r.read_to_end().await.unwrap()
            });
            let rests = gather(clients).await.unwrap();
            assert!(rests.iter().all(Vec::is_empty));
            server.close();
            server.wait_closed().await;
        })
    });
}

#[test]
fn readline_returns_a_partial_last_line_then_empty_at_eof() {
    watchdog("readline eof", || {
        run(async {
            let mut r = reader_of(b"one\ntwo", 100).await;
            assert_eq!(r.readline().await.unwrap(), b"one\n");
            assert_eq!(r.readline().await.unwrap(), b"two");
            assert_eq!(r.readline().await.unwrap(), b"");
            assert!(r.at_eof());
        })
    });
}

#[test]
fn readexactly_at_eof_gives_incomplete_read_with_the_partial_data() {
    watchdog("readexactly", || {
        run(async {
            let mut r = reader_of(b"12345", 100).await;
            assert_eq!(r.readexactly(2).await.unwrap(), b"12");
            match r.readexactly(10).await {
                Err(StreamError::IncompleteRead { partial, expected }) => {
                    assert_eq!(partial, b"345");
                    assert_eq!(expected, Some(10));
                }
                other => panic!("expected IncompleteRead, got {other:?}"),
            }
            let e = r.readexactly(1).await.unwrap_err();
            assert!(e.to_string().contains("ended after 0 of 1"), "{e}");
        })
    });
}

#[test]
fn readuntil_without_the_separator_before_eof_gives_incomplete_read() {
    watchdog("readuntil eof", || {
        run(async {
            let mut r = reader_of(b"no separator here", 100).await;
            match r.readuntil(b"\r\n").await {
                Err(StreamError::IncompleteRead {
                    partial,
                    expected: None,
                }) => assert_eq!(partial, b"no separator here"),
                other => panic!("expected IncompleteRead, got {other:?}"),
            }
        })
    });
}

#[test]
fn readuntil_finds_a_multi_byte_separator_split_across_reads() {
    watchdog("split separator", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut r = StreamReader::new(b);
            let writer = asyncio::spawn(async move {
                a.write_all(b"head\r").await.unwrap();
                yield_now().await;
                yield_now().await;
                a.write_all(b"\ntail").await.unwrap();
            });
            assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"head\r\n");
            writer.await.unwrap();
            assert_eq!(r.read(10).await.unwrap(), b"tail");
        })
    });
}

#[test]
fn readuntil_past_the_limit_gives_limit_overrun_and_keeps_the_data() {
    watchdog("readuntil limit", || {
        run(async {
            let mut r = reader_of(b"0123456789|rest", 4).await;
            match r.readuntil(b"|").await {
                Err(StreamError::LimitOverrun { limit: 4, .. }) => {}
                other => panic!("expected LimitOverrun, got {other:?}"),
            }
            // The data stays buffered: reading by size still gets it.
            assert_eq!(r.readexactly(11).await.unwrap(), b"0123456789|");
        })
    });
}

#[test]
fn readline_over_the_limit_discards_that_line_and_reads_the_next() {
    watchdog("readline limit", || {
        run(async {
            let mut r = reader_of(b"a very long line\nshort\n", 8).await;
            let e = r.readline().await.unwrap_err();
            assert!(matches!(e, StreamError::LimitOverrun { .. }), "{e:?}");
            assert!(e.to_string().contains("limit of 8 bytes"), "{e}");
            assert_eq!(r.readline().await.unwrap(), b"short\n");
        })
    });
}

#[test]
#[should_panic(expected = "limit must be at least 1")]
fn a_zero_limit_is_refused() {
    run(async {
        let (a, _b) = UnixStream::pair().unwrap();
        StreamReader::with_limit(a, 0);
    });
}

#[test]
fn reading_after_close_is_a_closed_error() {
    watchdog("read after close", || {
        run(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let (mut r, mut w) = split(a);
            w.close();
            let e = r.read(1).await.unwrap_err();
            assert!(matches!(e, StreamError::Closed), "{e:?}");
            assert!(e.to_string().contains("open a new connection"), "{e}");
            let e = w.write_all(b"late").await.unwrap_err();
            assert!(matches!(e, StreamError::Closed), "{e:?}");
            assert_eq!(std::io::Error::from(e).kind(), ErrorKind::NotConnected);
        })
    });
}

#[test]
fn close_still_sends_what_was_buffered() {
    watchdog("close flushes", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut w = StreamWriter::new(a);
            let big: Vec<u8> = (0..2_000_000u32).map(|i| i as u8).collect();
            w.write(&big); // far more than the socket buffer: most of it is queued
            w.close();
            let reader = asyncio::spawn(async move { StreamReader::new(b).read_to_end().await });
            w.wait_closed().await.unwrap();
            assert!(reader.await.unwrap().unwrap() == big);
        })
    });
}

#[test]
fn open_connection_to_a_closed_port_is_refused() {
    watchdog("refused", || {
        run(async {
            let server = start_server(|_r, _w| async {}, "127.0.0.1", 0)
                .await
                .unwrap();
            let port = server.port();
            server.close();
            server.wait_closed().await;
            let e = open_connection("127.0.0.1", port).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        })
    });
}

#[test]
fn a_peer_reset_during_readline_is_an_io_error_and_every_later_read_says_so() {
    watchdog("reset", || {
        run(async {
            // The server closes the connection while the client's bytes sit unread in its
            // receive buffer (on loopback they are there once the write returned): the kernel
            // then answers with a reset instead of an orderly end-of-file.
            let sent = Rc::new(std::cell::Cell::new(false));
            let flag = sent.clone();
            let server = start_server(
                move |reader, writer| {
                    let flag = flag.clone();
                    async move {
                        while !flag.get() {
                            yield_now().await;
                        }
                        drop((reader, writer));
                    }
                },
                "127.0.0.1",
                0,
            )
            .await
            .unwrap();
            let (mut r, mut w) = open_connection("127.0.0.1", server.port()).await.unwrap();
            w.write_all(b"unread by the server\n").await.unwrap();
            sent.set(true);
            match r.readline().await {
                Err(StreamError::Io(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
                other => panic!("expected a reset, got {other:?}"),
            }
            // Not taken for a clean end of stream afterwards (asyncio's reader keeps its error).
            for again in [r.readline().await, r.read(10).await, r.read_to_end().await] {
                match again {
                    Err(StreamError::Io(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
                    other => panic!("expected the reset again, got {other:?}"),
                }
            }
            assert!(!r.at_eof());
        })
    });
}

#[test]
fn a_panicking_handler_is_reported_and_the_server_goes_on() {
    watchdog("handler panic", || {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let lp = EventLoop::new();
        let log = seen.clone();
        lp.set_exception_handler(move |ctx| log.borrow_mut().push(ctx.to_string()));
        lp.run_until_complete(async {
            let server = start_server(
                |mut r, mut w| async move {
                    let line = r.readline().await.unwrap();
                    if line == b"panic\n" {
                        panic!("handler gave up");
                    }
                    w.write_all(&line).await.unwrap();
                },
                "127.0.0.1",
                0,
            )
            .await
            .unwrap();
            let (mut r, mut w) = open_connection("127.0.0.1", server.port()).await.unwrap();
            w.write_all(b"panic\n").await.unwrap();
            assert_eq!(r.readline().await.unwrap(), b"");
            let (mut r, mut w) = open_connection("127.0.0.1", server.port()).await.unwrap();
            w.write_all(b"fine\n").await.unwrap();
            assert_eq!(r.readline().await.unwrap(), b"fine\n");
        });
        drop(lp);
        assert_eq!(seen.borrow().len(), 1, "{:?}", seen.borrow());
        assert!(seen.borrow()[0].contains("handler gave up"));
    });
}

#[test]
fn serve_forever_closes_the_server_when_its_await_is_cancelled() {
    watchdog("serve_forever", || {
        run(async {
            let server = Rc::new(
                start_server(|_r, _w| async {}, "127.0.0.1", 0)
                    .await
                    .unwrap(),
            );
            let s = server.clone();
            let serving = asyncio::spawn(async move { s.serve_forever().await });
            yield_now().await;
            assert!(serving.cancel());
            let _ = serving.await;
            assert!(!server.is_serving());
            let e = open_connection("127.0.0.1", server.port())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        })
    });
}

#[test]
fn write_eof_half_closes_and_the_reply_still_arrives() {
    watchdog("write_eof", || {
        run(async {
            let server = start_server(
                |mut r, mut w| async move {
                    let all = r.read_to_end().await.unwrap();
                    w.write_all(&all).await.unwrap();
                    w.write_all(b" (done)").await.unwrap();
                    w.close();
                    w.wait_closed().await.unwrap();
                },
                "127.0.0.1",
                0,
            )
            .await
            .unwrap();
            let (mut r, mut w) = open_connection("127.0.0.1", server.port()).await.unwrap();
            w.write(b"request");
            w.write_eof();
            assert_eq!(r.read_to_end().await.unwrap(), b"request (done)");
        })
    });
}

#[test]
fn data_written_after_write_eof_is_reported_as_dropped_not_lost_silently() {
    watchdog("write after write_eof", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut w = StreamWriter::new(a);
            w.write_all(b"sent").await.unwrap();
            w.write_eof();
            w.drain().await.unwrap(); // nothing lost yet
            let e = w.write_all(b"too late").await.unwrap_err();
            assert!(e.to_string().contains("after write_eof()"), "{e}");
            assert_eq!(std::io::Error::from(e).kind(), ErrorKind::BrokenPipe);
            assert_eq!(StreamReader::new(b).read_to_end().await.unwrap(), b"sent");
        })
    });
}

/// The example's binary, built by `cargo test` beside this test (built here if it is missing).
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "asyncio", "--example", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building example {name} failed");
    }
    path
}

#[test]
fn the_gather_clients_example_checks_every_reply_and_exits_zero() {
    let out = std::process::Command::new(example("gather_clients"))
        .args(["--clients", "20", "--messages", "5"])
        .output()
        .expect("run gather_clients");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("20 clients x 5 messages: 100 messages, ")
            && stdout.trim_end().ends_with("every reply matched"),
        "{stdout}"
    );
}

#[test]
fn open_connection_resolves_a_host_name_off_the_loop() {
    watchdog("resolve", || {
        run(async {
            let server = start_server(
                |mut r, mut w| async move {
                    let line = r.readline().await.unwrap();
                    w.write_all(&line).await.unwrap();
                },
                "127.0.0.1",
                0,
            )
            .await
            .unwrap();
            // "localhost" may resolve to ::1 first, where nothing listens: the next address is
            // tried.
            let (mut r, mut w) = open_connection("localhost", server.port()).await.unwrap();
            w.write_all(b"by name\n").await.unwrap();
            assert_eq!(r.readline().await.unwrap(), b"by name\n");
        })
    });
}

#[test]
fn a_read_dropped_while_waiting_leaves_nothing_behind_for_the_next() {
    // A read that is cancelled while it waits (a timeout, a select) must not leave its empty
    // read buffer behind as if it were data.
    watchdog("cancelled read", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut reader = StreamReader::new(b);
            let mut waiting = Box::pin(reader.readexactly(3));
            std::future::poll_fn(|cx| {
                let first = std::future::Future::poll(waiting.as_mut(), cx);
                assert!(first.is_pending(), "nothing was sent yet");
                std::task::Poll::Ready(())
            })
            .await;
            drop(waiting);
            a.write_all(b"abc").await.unwrap();
            drop(a);
            assert_eq!(reader.readexactly(3).await.unwrap(), b"abc");
            assert_eq!(reader.read_to_end().await.unwrap(), b"");
        })
    });
}

#[test]
fn a_megabyte_and_a_long_line_arrive_whole_and_in_order() {
    // Far more than one read takes: the reader's reads grow from small to full size on the way.
    watchdog("megabyte", || {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
            let line = [b'x'; 5000];
            let sent = (data.clone(), line);
            let writer = asyncio::spawn(async move {
                let mut w = StreamWriter::new(a);
                w.write(&sent.0);
                w.write(&sent.1);
                w.write(b"\n");
                w.drain().await.unwrap();
            });
            let mut reader = StreamReader::new(b);
            assert!(reader.readexactly(data.len()).await.unwrap() == data);
            let got = reader.readline().await.unwrap();
            assert_eq!((got.len(), got[..5000] == line), (5001, true));
            writer.await.unwrap();
        })
    });
}
