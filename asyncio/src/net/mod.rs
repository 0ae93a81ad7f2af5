//! Sockets on the event loop: TCP, UDP and (on Unix) Unix-domain sockets.
//!
//! Each socket is a non-blocking mio socket registered with the running loop's reactor when it is
//! created, and deregistered when it is dropped. Their operations are `async fn`s that wait for
//! readiness on the loop; the stream sockets also implement the `futures-io` traits
//! [`AsyncRead`](futures_io::AsyncRead) and [`AsyncWrite`](futures_io::AsyncWrite), on the socket
//! and on a shared reference to it, so that one task may read while another writes.
//!
//! A socket belongs to the loop it was created on: creating one outside a running loop panics, and
//! using one on another loop fails with an error that says so.

mod split;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use split::{ReadHalf, WriteHalf};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr`, failing with a clear error when it names no address.
fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address; check the host name",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the last error if none succeeds.
fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

/// Implements the inherent read/write methods and the futures-io traits for a stream socket whose
/// `Source` field is `source` and whose `&Inner` implements `Read`/`Write`.
macro_rules! stream_io {
    ($ty:ident, $example:literal) => {
        impl $ty {
            /// Reads into `buf`, waiting until at least one byte is there; `Ok(0)` means the peer
            /// closed its writing half (end of file).
            ///
            /// # Errors
            /// Whatever the socket reports, e.g. `ConnectionReset` when the peer reset the
            /// connection.
            ///
            /// # Examples
            ///
            #[doc = $example]
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.poll_read_ref(cx, buf)).await
            }

            /// Writes some of `buf`, waiting until the socket can take at least one byte;
            /// returns how many bytes were written.
            ///
            /// # Errors
            /// Whatever the socket reports, e.g. `BrokenPipe` once the peer is gone.
            ///
            /// # Examples
            ///
            #[doc = $example]
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.poll_write_ref(cx, buf)).await
            }

            /// Writes all of `buf`, waiting as often as needed.
            ///
            /// # Errors
            /// Whatever the socket reports; `WriteZero` if it stops taking bytes.
            ///
            /// # Examples
            ///
            #[doc = $example]
            pub async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    match self.write(buf).await? {
                        0 => {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::WriteZero,
                                "the socket accepted no more bytes",
                            ))
                        }
                        n => buf = &buf[n..],
                    }
                }
                Ok(())
            }

            /// Fills `buf` completely.
            ///
            /// # Errors
            /// `UnexpectedEof` if the stream ends first; otherwise whatever the socket reports.
            ///
            /// # Examples
            ///
            #[doc = $example]
            pub async fn read_exact(&self, mut buf: &mut [u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    match self.read(buf).await? {
                        0 => {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "the stream ended before the buffer was filled",
                            ))
                        }
                        n => buf = &mut buf[n..],
                    }
                }
                Ok(())
            }

            /// Splits the stream into halves that separate tasks can own; the connection
            /// closes when both are dropped.
            ///
            /// # Examples
            ///
            /// See [`ReadHalf`](crate::net::ReadHalf).
            pub fn into_split(self) -> (crate::net::ReadHalf<$ty>, crate::net::WriteHalf<$ty>) {
                let rc = std::rc::Rc::new(self);
                (crate::net::ReadHalf(rc.clone()), crate::net::WriteHalf(rc))
            }

            fn poll_read_ref(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Read;
                let len = buf.len();
                self.source.poll_transfer(
                    cx,
                    crate::runtime::reactor::Direction::Read,
                    len,
                    |mut s| s.read(buf),
                )
            }

            fn poll_write_ref(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write;
                self.source.poll_transfer(
                    cx,
                    crate::runtime::reactor::Direction::Write,
                    buf.len(),
                    |mut s| s.write(buf),
                )
            }
        }

        impl futures_io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_ref(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_ref(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(())) // nothing is buffered
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_ref(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_ref(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}
pub(crate) use stream_io;

/// Waits until a non-blocking connect on `source` has finished, and reports its outcome.
fn poll_connected<S>(
    source: &crate::runtime::reactor::Source<S>,
    cx: &mut std::task::Context<'_>,
    take_error: impl Fn(&S) -> io::Result<Option<io::Error>>,
    connected: impl Fn(&S) -> io::Result<()>,
) -> std::task::Poll<io::Result<()>>
where
    S: mio::event::Source,
{
    source.poll_io(
        cx,
        crate::runtime::reactor::Direction::Write,
        |s| match take_error(s)? {
            Some(e) => Err(e),
            None => match connected(s) {
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                other => other,
            },
        },
    )
}
