//! asyncio's high-level streams: `open_connection`, `start_server`, `StreamReader`, `StreamWriter`.
//!
//! A connection is one transport (a TCP or Unix stream, or a subprocess pipe) shared by a reader
//! and a writer, as in asyncio:
//! - [`StreamReader`] buffers what arrives and hands it out by size ([`read`](StreamReader::read),
//!   [`readexactly`](StreamReader::readexactly)) or by separator
//!   ([`readline`](StreamReader::readline), [`readuntil`](StreamReader::readuntil)). Looking for a
//!   separator never buffers more than the reader's *limit* (64 KiB by default, asyncio's
//!   `limit=2**16`): past it the search fails with [`StreamError::LimitOverrun`].
//! - [`StreamWriter`] sends at once what the socket takes and buffers the rest;
//!   [`drain`](StreamWriter::drain) waits until the buffer is empty (asyncio waits only until it is
//!   below a high-water mark; ours is zero, the simplest flow control there is).
//!   [`close`](StreamWriter::close) finishes sending what is buffered in the background, then
//!   shuts the connection down; [`wait_closed`](StreamWriter::wait_closed) waits for that.
//!
//! Errors are [`StreamError`]s: asyncio's `IncompleteReadError` and `LimitOverrunError` as
//! variants, I/O errors as they come from the socket, and a use after `close()` as an error that
//! says so.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};

use crate::net::{TcpListener, TcpStream};
#[cfg(unix)]
use crate::net::{UnixListener, UnixStream};
use crate::runtime::{self, ExceptionContext};
use crate::task::{spawn, Task};

/// asyncio's default limit for [`StreamReader`]: 64 KiB.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let (a, _b) = asyncio::net::UnixStream::pair().unwrap();
///     let reader = asyncio::streams::StreamReader::new(a);
///     assert_eq!(reader.limit(), asyncio::streams::DEFAULT_LIMIT);
/// });
/// ```
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// How many bytes one read from the transport asks for at most.
const CHUNK: usize = 16 * 1024;

/// How many bytes a reader's first read asks for. Each read that fills its room doubles the
/// next one's, up to [`CHUNK`]: a connection that only ever exchanges small messages keeps a
/// 1 KiB buffer (with 2,000 idle-but-open readers, 16 KiB each was 32 MB, and reads landing far
/// apart in memory), while a bulk transfer reaches full-size reads after five.
const FIRST_ROOM: usize = 1024;

/// Why a stream operation failed.
///
/// # Examples
///
/// ```
/// use asyncio::streams::{StreamError, StreamReader};
///
/// asyncio::run(async {
///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
///     a.write_all(b"abc").await.unwrap();
///     drop(a);
///     let mut reader = StreamReader::new(b);
///     match reader.readexactly(5).await {
///         Err(StreamError::IncompleteRead { partial, expected }) => {
///             assert_eq!((partial.as_slice(), expected), (&b"abc"[..], Some(5)));
///         }
///         other => unreachable!("{other:?}"),
///     }
/// });
/// ```
#[derive(Debug)]
pub enum StreamError {
    /// The stream ended before the requested data was complete (asyncio's
    /// `IncompleteReadError`): `partial` holds what was read, `expected` the size asked for
    /// (`None` when a separator was awaited).
    IncompleteRead {
        /// The bytes read before the end of the stream.
        partial: Vec<u8>,
        /// How many bytes were asked for, or `None` for a separator search.
        expected: Option<usize>,
    },
    /// The separator was not found within the reader's limit (asyncio's `LimitOverrunError`).
    /// For `readuntil` the data stays buffered; `readline` discards it, as asyncio does.
    LimitOverrun {
        /// How many bytes were buffered (or would have to be consumed) when the limit was hit.
        consumed: usize,
        /// The reader's limit.
        limit: usize,
    },
    /// The writer was closed with [`StreamWriter::close`]; the connection is no longer usable.
    Closed,
    /// The transport failed: a reset, a refused connection, a broken pipe, ...
    Io(io::Error),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::IncompleteRead {
                partial,
                expected: Some(n),
            } => write!(
                f,
                "the stream ended after {} of {n} expected bytes; the peer closed the connection \
                 early (the partial data is in the error)",
                partial.len()
            ),
            StreamError::IncompleteRead {
                partial,
                expected: None,
            } => write!(
                f,
                "the stream ended after {} bytes without the separator; the peer closed the \
                 connection early (the partial data is in the error)",
                partial.len()
            ),
            StreamError::LimitOverrun { consumed, limit } => write!(
                f,
                "no separator within the reader's limit of {limit} bytes ({consumed} bytes \
                 buffered); raise the limit with StreamReader::with_limit or read by size"
            ),
            StreamError::Closed => {
                f.write_str("the stream was closed by StreamWriter::close(); open a new connection")
            }
            StreamError::Io(e) => write!(f, "stream I/O failed: {e}"),
        }
    }
}

impl Error for StreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StreamError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> Self {
        StreamError::Io(e)
    }
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Io(e) => e,
            StreamError::IncompleteRead { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            StreamError::LimitOverrun { .. } => io::Error::new(io::ErrorKind::InvalidData, e),
            StreamError::Closed => io::Error::new(io::ErrorKind::NotConnected, e),
        }
    }
}

/// What a reader and a writer share: the byte transport, and whether `close()` was called.
///
/// Implemented for the stream sockets; a transport that cannot write (a subprocess's stdout)
/// fails writes, and one that cannot read fails reads.
pub(crate) trait Transport {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

macro_rules! socket_transport {
    ($ty:ty) => {
        impl Transport for $ty {
            fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_read(cx, buf)
            }
            fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_write(cx, buf)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$ty>::shutdown(self, how)
            }
        }
    };
}
socket_transport!(TcpStream);
#[cfg(unix)]
socket_transport!(UnixStream);

/// One connection as its reader and writer share it. An implementation detail of
/// [`IntoTransport`].
#[doc(hidden)]
pub struct Shared {
    transport: Box<dyn Transport>,
    closed: Cell<bool>,
}

/// Wraps a transport for a reader and a writer to share.
pub(crate) fn shared_of(transport: impl Transport + 'static) -> Rc<Shared> {
    Rc::new(Shared {
        transport: Box::new(transport),
        closed: Cell::new(false),
    })
}

/// The reading side of a connection (asyncio's `StreamReader`).
///
/// # Examples
///
/// ```
/// use asyncio::streams::StreamReader;
///
/// asyncio::run(async {
///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
///     a.write_all(b"first line\nsecond|rest").await.unwrap();
///     drop(a);
///     let mut reader = StreamReader::new(b);
///     assert_eq!(reader.readline().await.unwrap(), b"first line\n");
///     assert_eq!(reader.readuntil(b"|").await.unwrap(), b"second|");
///     assert_eq!(reader.read(100).await.unwrap(), b"rest");
///     assert_eq!(reader.read(100).await.unwrap(), b""); // end of stream seen
///     assert!(reader.at_eof());
/// });
/// ```
pub struct StreamReader {
    shared: Rc<Shared>,
    /// The data not yet handed out is `buf[pos..end]`. The bytes past `end` are room that the
    /// next read reuses as it is: zeroing the room again for every read cost more than the
    /// read itself with many connections, and a read dropped while it waits leaves `end`, and
    /// so the data, as they were.
    buf: Vec<u8>,
    /// Bytes of `buf` before `pos` were handed out already.
    pos: usize,
    /// Bytes of `buf` from `end` on hold no data.
    end: usize,
    /// How many bytes the next read asks for: from [`FIRST_ROOM`] up to [`CHUNK`].
    room: usize,
    eof: bool,
    /// The error the system reported for the connection (a reset, ...): every later read
    /// reports it again, as asyncio's reader keeps its exception, instead of a clean end.
    failed: Option<(io::ErrorKind, String)>,
    limit: usize,
}

impl StreamReader {
    /// A reader over a stream socket, with the default limit of 64 KiB.
    ///
    /// # Examples
    ///
    /// See [`StreamReader`].
    pub fn new(stream: impl IntoTransport) -> StreamReader {
        StreamReader::with_limit(stream, DEFAULT_LIMIT)
    }

    /// A reader whose separator searches give up past `limit` buffered bytes (asyncio's
    /// `limit=`).
    ///
    /// # Panics
    /// When `limit` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::streams::{StreamError, StreamReader};
    ///
    /// asyncio::run(async {
    ///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
    ///     a.write_all(b"a line that is far too long\n").await.unwrap();
    ///     let mut reader = StreamReader::with_limit(b, 8);
    ///     assert!(matches!(reader.readline().await, Err(StreamError::LimitOverrun { limit: 8, .. })));
    /// });
    /// ```
    pub fn with_limit(stream: impl IntoTransport, limit: usize) -> StreamReader {
        StreamReader::from_shared(stream.into_shared(), limit)
    }

    pub(crate) fn from_shared(shared: Rc<Shared>, limit: usize) -> StreamReader {
        assert!(limit > 0, "a StreamReader limit must be at least 1 byte");
        StreamReader {
            shared,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            room: FIRST_ROOM,
            eof: false,
            failed: None,
            limit,
        }
    }

    /// The limit given at creation.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let (a, _b) = asyncio::net::UnixStream::pair().unwrap();
    ///     assert_eq!(asyncio::streams::StreamReader::new(a).limit(), 65536);
    /// });
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// True once the stream has ended and everything buffered was read (asyncio's `at_eof()`).
    ///
    /// # Examples
    ///
    /// See [`StreamReader`].
    pub fn at_eof(&self) -> bool {
        self.eof && self.buffered() == 0
    }

    fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// The data not yet handed out.
    fn data(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        out
    }

    /// Reads more from the transport into the buffer; false at end of stream.
    async fn fill(&mut self) -> Result<bool, StreamError> {
        if self.shared.closed.get() {
            return Err(StreamError::Closed);
        }
        if let Some((kind, message)) = &self.failed {
            return Err(StreamError::Io(io::Error::new(*kind, message.clone())));
        }
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos * 2 >= self.end {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let (start, size) = (self.end, self.room);
        if self.buf.len() < start + size {
            self.buf.resize(start + size, 0);
        }
        let shared = &self.shared;
        let room = &mut self.buf[start..start + size];
        match poll_fn(|cx| shared.transport.poll_read(cx, room)).await {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.end += n;
                if n == size {
                    self.room = (size * 2).min(CHUNK);
                }
                Ok(true)
            }
            Err(e) => {
                // Only the system's verdict on the connection sticks, not our own refusals
                // (such as a use on another loop).
                if e.raw_os_error().is_some() {
                    self.failed = Some((e.kind(), e.to_string()));
                }
                Err(StreamError::Io(e))
            }
        }
    }

    /// Reads up to `n` bytes, waiting until at least one is there; an empty Vec at end of stream
    /// (asyncio's `read(n)`).
    ///
    /// # Errors
    /// [`StreamError::Io`] from the transport: once the connection failed (e.g. the peer reset
    /// it), every later read reports that again, after the data received before it;
    /// [`StreamError::Closed`] after the writer's `close()`.
    ///
    /// # Examples
    ///
    /// See [`StreamReader`].
    pub async fn read(&mut self, n: usize) -> Result<Vec<u8>, StreamError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered() == 0 {
            self.fill().await?;
        }
        let k = n.min(self.buffered());
        Ok(self.take(k))
    }

    /// Reads everything until the end of the stream (asyncio's `read()` / `read(-1)`).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
    ///     a.write_all(b"all of it").await.unwrap();
    ///     drop(a);
    ///     let mut reader = asyncio::streams::StreamReader::new(b);
    ///     assert_eq!(reader.read_to_end().await.unwrap(), b"all of it");
    /// });
    /// ```
    pub async fn read_to_end(&mut self) -> Result<Vec<u8>, StreamError> {
        while self.fill().await? {}
        let k = self.buffered();
        Ok(self.take(k))
    }

    /// Reads exactly `n` bytes (asyncio's `readexactly(n)`).
    ///
    /// # Errors
    /// [`StreamError::IncompleteRead`] with the partial data when the stream ends first; else as
    /// [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// See [`StreamError`].
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, StreamError> {
        while self.buffered() < n {
            if !self.fill().await? {
                let k = self.buffered();
                return Err(StreamError::IncompleteRead {
                    partial: self.take(k),
                    expected: Some(n),
                });
            }
        }
        Ok(self.take(n))
    }

    /// Reads through the next `separator` and returns the data with it (asyncio's
    /// `readuntil(separator)`).
    ///
    /// # Errors
    /// [`StreamError::LimitOverrun`] when the separator is not within the limit (the data stays
    /// buffered); [`StreamError::IncompleteRead`] when the stream ends first (the buffered data
    /// moves into the error); else as [`read`](Self::read).
    ///
    /// # Panics
    /// When `separator` is empty.
    ///
    /// # Examples
    ///
    /// See [`StreamReader`].
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>, StreamError> {
        assert!(
            !separator.is_empty(),
            "readuntil() needs a non-empty separator"
        );
        let mut searched = 0; // bytes of the buffer known not to start a separator
        loop {
            let data = self.data();
            if let Some(i) = find(&data[searched..], separator) {
                let end = searched + i + separator.len();
                if end > self.limit {
                    return Err(StreamError::LimitOverrun {
                        consumed: searched + i,
                        limit: self.limit,
                    });
                }
                return Ok(self.take(end));
            }
            searched = data.len().saturating_sub(separator.len() - 1);
            if data.len() > self.limit {
                return Err(StreamError::LimitOverrun {
                    consumed: data.len(),
                    limit: self.limit,
                });
            }
            if !self.fill().await? {
                let k = self.buffered();
                return Err(StreamError::IncompleteRead {
                    partial: self.take(k),
                    expected: None,
                });
            }
        }
    }

    /// Reads one line, through its `\n` (asyncio's `readline()`). At the end of the stream it
    /// returns what is left, without `\n` (empty once nothing is left).
    ///
    /// # Errors
    /// [`StreamError::LimitOverrun`] for a line longer than the limit; as asyncio does, the line
    /// (if its end was seen) or the whole buffer is discarded, so the next call reads on. Else as
    /// [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// See [`StreamReader`].
    pub async fn readline(&mut self) -> Result<Vec<u8>, StreamError> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(StreamError::IncompleteRead { partial, .. }) => Ok(partial),
            Err(StreamError::LimitOverrun { consumed, limit }) => {
                let data = self.data();
                if data.get(consumed) == Some(&b'\n') {
                    self.take(consumed + 1);
                } else {
                    let k = self.buffered();
                    self.take(k);
                }
                Err(StreamError::LimitOverrun { consumed, limit })
            }
            Err(e) => Err(e),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.buffered())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish()
    }
}

/// The writing side of a connection (asyncio's `StreamWriter`).
///
/// # Examples
///
/// ```
/// use asyncio::streams::{StreamReader, StreamWriter};
///
/// asyncio::run(async {
///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
///     let mut writer = StreamWriter::new(a);
///     writer.write(b"hello ");
///     writer.write(b"world\n");
///     writer.drain().await.unwrap();
///     writer.close();
///     writer.wait_closed().await.unwrap();
///     let mut reader = StreamReader::new(b);
///     assert_eq!(reader.readline().await.unwrap(), b"hello world\n");
///     assert_eq!(reader.readline().await.unwrap(), b""); // end of stream
/// });
/// ```
pub struct StreamWriter {
    shared: Rc<Shared>,
    buf: Vec<u8>,
    /// Bytes of `buf` before `pos` were sent.
    pos: usize,
    /// The background flush started by `close()`/`write_eof()` while data was buffered.
    finishing: Option<Task<io::Result<()>>>,
    eof_written: bool,
    /// Data came after `write_eof()` and was dropped: `drain` reports it.
    dropped_after_eof: bool,
    peer: Option<SocketAddr>,
}

impl StreamWriter {
    /// A writer over a stream socket.
    ///
    /// # Examples
    ///
    /// See [`StreamWriter`].
    pub fn new(stream: impl IntoTransport) -> StreamWriter {
        StreamWriter::from_shared(stream.into_shared(), None)
    }

    pub(crate) fn from_shared(shared: Rc<Shared>, peer: Option<SocketAddr>) -> StreamWriter {
        StreamWriter {
            shared,
            buf: Vec::new(),
            pos: 0,
            finishing: None,
            eof_written: false,
            dropped_after_eof: false,
            peer,
        }
    }

    /// The peer's address, for TCP connections (asyncio's `get_extra_info("peername")`).
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let server = asyncio::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     let (_r, w) = asyncio::open_connection("127.0.0.1", server.port()).await.unwrap();
    ///     assert_eq!(w.peer_addr(), server.local_addr());
    /// });
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Queues `data` for sending and sends at once as much of it as the socket takes; the rest
    /// goes out on [`drain`](Self::drain) (asyncio's `write`). Data written after
    /// [`close`](Self::close) or [`write_eof`](Self::write_eof) is dropped; `drain` then
    /// reports it.
    ///
    /// # Examples
    ///
    /// See [`StreamWriter`].
    pub fn write(&mut self, data: &[u8]) {
        if self.is_finished() || data.is_empty() {
            self.dropped_after_eof |= self.eof_written && !data.is_empty();
            return;
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // Try right away: most small writes never need the buffer's contents to wait.
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            if let Poll::Ready(Ok(n)) = self.shared.transport.poll_write(&mut cx, data) {
                self.buf.extend_from_slice(&data[n..]);
                return;
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// Writes `data` and waits until everything queued is sent: `write` then `drain`.
    ///
    /// # Errors
    /// As [`drain`](Self::drain).
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
    ///     let mut w = asyncio::streams::StreamWriter::new(a);
    ///     w.write_all(b"x").await.unwrap();
    ///     assert_eq!(asyncio::streams::StreamReader::new(b).read(1).await.unwrap(), b"x");
    /// });
    /// ```
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.write(data);
        self.drain().await
    }

    fn is_finished(&self) -> bool {
        self.shared.closed.get() || self.eof_written
    }

    /// Waits until everything written so far has been handed to the socket (asyncio's
    /// `drain()`).
    ///
    /// # Errors
    /// [`StreamError::Io`] when the socket fails (e.g. `BrokenPipe` or `ConnectionReset` once
    /// the peer is gone), and `BrokenPipe` once data was written after
    /// [`write_eof`](Self::write_eof) (it was dropped); [`StreamError::Closed`] after
    /// [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// See [`StreamWriter`].
    pub async fn drain(&mut self) -> Result<(), StreamError> {
        if self.shared.closed.get() {
            return Err(StreamError::Closed);
        }
        if self.dropped_after_eof {
            return Err(StreamError::Io(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "data written after write_eof() was dropped: this side of the connection is shut \
                 down for writing",
            )));
        }
        flush(&self.shared, &self.buf[self.pos..]).await?;
        self.buf.clear();
        self.pos = 0;
        Ok(())
    }

    /// Sends end-of-file after the buffered data, keeping the reading side open (asyncio's
    /// `write_eof()`, a half-close).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::streams::{StreamReader, StreamWriter};
    /// asyncio::run(async {
    ///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
    ///     let mut w = StreamWriter::new(a);
    ///     w.write(b"last words");
    ///     w.write_eof();
    ///     assert_eq!(StreamReader::new(b).read_to_end().await.unwrap(), b"last words");
    /// });
    /// ```
    pub fn write_eof(&mut self) {
        if !self.is_finished() {
            self.eof_written = true;
            self.finish(Shutdown::Write);
        }
    }

    /// Closes the connection: the buffered data is still sent, in the background, and then the
    /// connection is shut down; the paired reader and this writer then fail with
    /// [`StreamError::Closed`] (asyncio's `close()`). Calling it again does nothing.
    ///
    /// # Examples
    ///
    /// See [`StreamWriter`].
    pub fn close(&mut self) {
        if self.shared.closed.replace(true) {
            return;
        }
        if self.eof_written {
            let _ = self.shared.transport.shutdown(Shutdown::Read);
        } else {
            self.finish(Shutdown::Both);
        }
    }

    /// True once [`close`](Self::close) was called (asyncio's `is_closing()`).
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let (a, _b) = asyncio::net::UnixStream::pair().unwrap();
    ///     let mut w = asyncio::streams::StreamWriter::new(a);
    ///     assert!(!w.is_closing());
    ///     w.close();
    ///     assert!(w.is_closing());
    /// });
    /// ```
    pub fn is_closing(&self) -> bool {
        self.shared.closed.get()
    }

    fn finish(&mut self, how: Shutdown) {
        let rest = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        if rest.is_empty() {
            let _ = self.shared.transport.shutdown(how);
            return;
        }
        let shared = self.shared.clone();
        self.finishing = Some(spawn(async move {
            let sent = flush(&shared, &rest).await;
            let _ = shared.transport.shutdown(how);
            sent
        }));
    }

    /// Waits until the data buffered at [`close`](Self::close) was sent (asyncio's
    /// `wait_closed()`).
    ///
    /// # Errors
    /// [`StreamError::Io`] when sending it failed.
    ///
    /// # Examples
    ///
    /// See [`StreamWriter`].
    pub async fn wait_closed(&mut self) -> Result<(), StreamError> {
        match self.finishing.take() {
            Some(task) => match task.await {
                Ok(r) => r.map_err(StreamError::Io),
                Err(_) => Err(StreamError::Closed),
            },
            None => Ok(()),
        }
    }
}

async fn flush(shared: &Shared, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| shared.transport.poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        // As asyncio's transport does, send what was written even if nobody drains it.
        if self.pos < self.buf.len() && !self.shared.closed.get() {
            if let Some(t) = self.finishing.take() {
                t.detach();
            }
            if runtime::try_with_core(|_| ()).is_some() {
                let rest = self.buf.split_off(self.pos);
                let shared = self.shared.clone();
                spawn(async move {
                    let _ = flush(&shared, &rest).await;
                })
                .detach();
            }
        } else if let Some(t) = self.finishing.take() {
            t.detach();
        }
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("buffered", &(self.buf.len() - self.pos))
            .field("closing", &self.is_closing())
            .field("peer", &self.peer)
            .finish()
    }
}

/// A byte stream a [`StreamReader`]/[`StreamWriter`] can run over: the stream sockets.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let (a, b) = asyncio::net::UnixStream::pair().unwrap();
///     let (_reader, _writer) = asyncio::streams::split(a);
///     drop(b);
/// });
/// ```
pub trait IntoTransport: sealed::Sealed {
    #[doc(hidden)]
    fn into_shared(self) -> Rc<Shared>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! into_transport {
    ($ty:ty) => {
        impl sealed::Sealed for $ty {}
        impl IntoTransport for $ty {
            fn into_shared(self) -> Rc<Shared> {
                Rc::new(Shared {
                    transport: Box::new(self),
                    closed: Cell::new(false),
                })
            }
        }
    };
}
into_transport!(TcpStream);
#[cfg(unix)]
into_transport!(UnixStream);

/// Makes a reader and a writer over one connection.
///
/// # Examples
///
/// See [`IntoTransport`].
pub fn split(stream: impl IntoTransport) -> (StreamReader, StreamWriter) {
    let shared = stream.into_shared();
    (
        StreamReader::from_shared(shared.clone(), DEFAULT_LIMIT),
        StreamWriter::from_shared(shared, None),
    )
}

fn tcp_pair(stream: TcpStream, limit: usize) -> (StreamReader, StreamWriter) {
    // As asyncio does for every TCP transport: small writes go out at once, not after the
    // peer's delayed acknowledgement (Nagle's algorithm would add up to 40 ms per exchange).
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let shared = stream.into_shared();
    (
        StreamReader::from_shared(shared.clone(), limit),
        StreamWriter::from_shared(shared, peer),
    )
}

/// Connects to `host:port` and returns the connection's reader and writer (asyncio's
/// `open_connection(host, port)`). A host name is resolved on the blocking pool (see
/// [`to_thread`](crate::to_thread)), so the loop goes on meanwhile; each address is tried in turn.
///
/// # Errors
/// `ConnectionRefused` when nobody listens there; other I/O errors as the system reports them.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let server = asyncio::start_server(
///         |mut reader, mut writer| async move {
///             let line = reader.readline().await.unwrap();
///             writer.write_all(&line).await.unwrap();
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await
///     .unwrap();
///     let (mut reader, mut writer) = asyncio::open_connection("127.0.0.1", server.port()).await.unwrap();
///     writer.write_all(b"echo me\n").await.unwrap();
///     assert_eq!(reader.readline().await.unwrap(), b"echo me\n");
/// });
/// ```
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        // As asyncio does, resolve names on the blocking pool, not on the loop.
        Err(_) => {
            let host = host.to_owned();
            crate::blocking::to_thread(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map(Iterator::collect)
            })
            .await?
        }
    };
    let stream = TcpStream::connect(&addrs[..]).await?;
    Ok(tcp_pair(stream, DEFAULT_LIMIT))
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection(path)`).
///
/// # Errors
/// `NotFound` when there is no such socket file, `ConnectionRefused` when nobody listens.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("asyncio-doc-ouc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let p = path.clone();
/// asyncio::run(async move {
///     let _server = asyncio::start_unix_server(
///         |_r, mut w| async move { w.write_all(b"hi\n").await.unwrap() },
///         &p,
///     )
///     .unwrap();
///     let (mut r, _w) = asyncio::open_unix_connection(&p).await.unwrap();
///     assert_eq!(r.readline().await.unwrap(), b"hi\n");
/// });
/// std::fs::remove_file(&path).unwrap();
/// ```
#[cfg(unix)]
pub async fn open_unix_connection(
    path: impl AsRef<std::path::Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(split(UnixStream::connect(path).await?))
}

/// A listening server started by [`start_server`]: its address, and its shutdown (asyncio's
/// `Server`). Dropping it does not stop it; call [`close`](Server::close).
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let server = asyncio::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
///     assert!(server.is_serving());
///     server.close();
///     server.wait_closed().await;
///     assert!(!server.is_serving());
/// });
/// ```
pub struct Server {
    addr: Option<SocketAddr>,
    accepting: RefCell<Option<Task<()>>>,
}

impl Server {
    /// The address a TCP server listens on; `None` for a Unix server.
    ///
    /// # Examples
    ///
    /// See [`StreamWriter::peer_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The port a TCP server listens on (useful after binding port 0); 0 for a Unix server.
    ///
    /// # Examples
    ///
    /// See [`open_connection`].
    pub fn port(&self) -> u16 {
        self.addr.map_or(0, |a| a.port())
    }

    /// True until [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn is_serving(&self) -> bool {
        self.accepting
            .borrow()
            .as_ref()
            .is_some_and(|t| !t.is_done())
    }

    /// Stops accepting connections and closes the listening socket; connections already
    /// accepted go on (asyncio's `Server.close()`).
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub fn close(&self) {
        if let Some(t) = self.accepting.borrow().as_ref() {
            t.cancel();
        }
    }

    /// Waits until the listening socket is closed after [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// See [`Server`].
    pub async fn wait_closed(&self) {
        let task = self.accepting.borrow_mut().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Serves until the server is closed or the awaiting task is cancelled (asyncio's
    /// `serve_forever()`); cancelling the await closes the server, as in asyncio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// asyncio::run(async {
    ///     let server = asyncio::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     let forever = asyncio::timeout(Duration::from_millis(5), server.serve_forever()).await;
    ///     assert!(forever.is_err()); // timed out, and the server is closed
    ///     assert!(!server.is_serving());
    /// });
    /// ```
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Server);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _guard = CloseOnDrop(self);
        let task = self.accepting.borrow_mut().take();
        if let Some(mut task) = task {
            let _ = (&mut task).await;
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("serving", &self.is_serving())
            .finish()
    }
}

/// Starts a TCP server on `host:port` that runs `handler(reader, writer)` as a task for each
/// connection (asyncio's `start_server(client_connected_cb, host, port)`). Port 0 picks a free
/// port: ask [`Server::port`]. A handler that panics is reported through the loop's exception
/// handler and the server goes on.
///
/// # Errors
/// `AddrInUse` and the like when the address cannot be bound.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// See [`open_connection`].
pub async fn start_server<H, F>(handler: H, host: &str, port: u16) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + 'static,
    F: Future + 'static,
{
    let listener = TcpListener::bind((host, port))?;
    let addr = listener.local_addr()?;
    let accepting = spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (r, w) = tcp_pair(stream, DEFAULT_LIMIT);
                    spawn(handler(r, w)).detach();
                }
                Err(e) => accept_failed(e).await,
            }
        }
    });
    Ok(Server {
        addr: Some(addr),
        accepting: RefCell::new(Some(accepting)),
    })
}

/// Starts a server on the Unix socket file `path` (asyncio's `start_unix_server`). The file must
/// not exist yet; the server does not remove it when closed.
///
/// # Errors
/// `AddrInUse` when the file exists.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// See [`open_unix_connection`].
#[cfg(unix)]
pub fn start_unix_server<H, F>(handler: H, path: impl AsRef<std::path::Path>) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> F + 'static,
    F: Future + 'static,
{
    let listener = UnixListener::bind(path)?;
    let accepting = spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (r, w) = split(stream);
                    spawn(handler(r, w)).detach();
                }
                Err(e) => accept_failed(e).await,
            }
        }
    });
    Ok(Server {
        addr: None,
        accepting: RefCell::new(Some(accepting)),
    })
}

/// A failed accept (e.g. out of file descriptors) is reported, and the server retries after a
/// pause instead of spinning, as asyncio does.
async fn accept_failed(e: io::Error) {
    runtime::current_core("accept").report(ExceptionContext::new(
        format!("a server failed to accept a connection ({e}); retrying in 100 ms"),
        None,
        None,
    ));
    crate::time::sleep(Duration::from_millis(100)).await;
}
