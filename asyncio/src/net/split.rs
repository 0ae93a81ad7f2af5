//! Owned halves of a stream socket, so one task can read while another writes.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// The reading half of a stream socket, from `into_split` (e.g. [`TcpStream::into_split`](crate::net::TcpStream::into_split)).
///
/// # Examples
///
/// ```
/// use asyncio::net::{TcpListener, TcpStream};
///
/// asyncio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let (server, _) = listener.accept().await.unwrap();
///     let (reader, writer) = client.into_split();
///     server.write_all(b"hi").await.unwrap();
///     let mut buf = [0; 2];
///     reader.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
///     writer.write_all(b"ok").await.unwrap();
///     let _ = writer.shutdown();
/// });
/// ```
pub struct ReadHalf<T>(pub(crate) Rc<T>);

/// The writing half of a stream socket, from `into_split`; see [`ReadHalf`] for an example.
///
/// Dropping it does not close the socket: the connection is closed when both halves are gone.
/// Call [`shutdown`](WriteHalf::shutdown) (or `AsyncWrite::poll_close`) to send end-of-file.
///
/// # Examples
///
/// See [`ReadHalf`].
pub struct WriteHalf<T>(pub(crate) Rc<T>);

impl<T> ReadHalf<T>
where
    for<'a> &'a T: AsyncRead,
{
    /// Reads into `buf`; `Ok(0)` at end of file.
    ///
    /// # Errors
    /// Whatever the socket reports.
    ///
    /// # Examples
    ///
    /// See [`ReadHalf`].
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| Pin::new(&mut &*self.0).poll_read(cx, buf)).await
    }

    /// Fills `buf` completely.
    ///
    /// # Errors
    /// `UnexpectedEof` when the stream ends first; otherwise whatever the socket reports.
    ///
    /// # Examples
    ///
    /// See [`ReadHalf`].
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stream ended before the buffer was filled",
                    ))
                }
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }
}

impl<T> WriteHalf<T>
where
    for<'a> &'a T: AsyncWrite,
{
    /// Writes all of `buf`.
    ///
    /// # Errors
    /// Whatever the socket reports.
    ///
    /// # Examples
    ///
    /// See [`ReadHalf`].
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = std::future::poll_fn(|cx| Pin::new(&mut &*self.0).poll_write(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Shuts down the writing direction: the peer reads end-of-file (a half-close).
    ///
    /// # Errors
    /// Whatever the socket reports (e.g. `NotConnected` once the peer is gone).
    ///
    /// # Examples
    ///
    /// See [`ReadHalf`].
    pub fn shutdown(&self) -> io::Result<()> {
        let waker = std::task::Waker::noop();
        match Pin::new(&mut &*self.0).poll_close(&mut Context::from_waker(waker)) {
            Poll::Ready(r) => r,
            Poll::Pending => Ok(()),
        }
    }
}

impl<T> AsyncRead for ReadHalf<T>
where
    for<'a> &'a T: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl<T> AsyncWrite for WriteHalf<T>
where
    for<'a> &'a T: AsyncWrite,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_close(cx)
    }
}

impl<T: fmt::Debug> fmt::Debug for ReadHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(&self.0).finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for WriteHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(&self.0).finish()
    }
}
