//! TCP: `TcpListener` and `TcpStream`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};

use super::{each_addr, poll_connected, resolve, stream_io};
use crate::runtime::reactor::{Direction, Source};

/// A TCP socket listening for connections (what asyncio's `start_server` listens on).
///
/// # Examples
///
/// ```
/// use asyncio::net::{TcpListener, TcpStream};
///
/// asyncio::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = asyncio::spawn(async move {
///         let s = TcpStream::connect(addr).await.unwrap();
///         s.write_all(b"ping").await.unwrap();
///     });
///     let (conn, _peer) = listener.accept().await.unwrap();
///     let mut buf = [0; 4];
///     conn.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
///     client.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    source: Source<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` and listens (with `SO_REUSEADDR` on Unix, as asyncio does). Port 0 picks a
    /// free port; ask [`local_addr`](Self::local_addr) for it. A host name is resolved with the
    /// system resolver, which blocks; pass an IP address to avoid that.
    ///
    /// # Errors
    /// `AddrInUse`, `AddrNotAvailable`, `PermissionDenied`, ... as the system reports them.
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     assert_ne!(listener.local_addr().unwrap().port(), 0);
    /// });
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = each_addr(addr, mio::net::TcpListener::bind)?;
        Ok(TcpListener {
            source: Source::new(listener, "TcpListener::bind()")?,
        })
    }

    /// Waits for the next connection and returns it with the peer's address.
    ///
    /// # Errors
    /// As the system reports them, e.g. `EMFILE` ("too many open files").
    ///
    /// # Examples
    ///
    /// See [`TcpListener`].
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) =
            poll_fn(|cx| self.source.poll_io(cx, Direction::Read, |l| l.accept())).await?;
        Ok((TcpStream::wrap(stream)?, addr))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`TcpListener::bind`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection.
///
/// Reads and writes take `&self`, and `&TcpStream` implements `AsyncRead`/`AsyncWrite` too, so a
/// reader and a writer can work on one stream at once (one of each at a time: a second reader
/// would take the first one's place as the one woken). For separate tasks, use
/// [`into_split`](Self::into_split).
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
///     client.write_all(b"hello").await.unwrap();
///     client.shutdown(std::net::Shutdown::Write).unwrap(); // half-close: the server reads EOF
///     let mut got = Vec::new();
///     let mut buf = [0; 16];
///     loop {
///         let n = server.read(&mut buf).await.unwrap();
///         if n == 0 { break }
///         got.extend_from_slice(&buf[..n]);
///     }
///     assert_eq!(got, b"hello");
/// });
/// ```
pub struct TcpStream {
    source: Source<mio::net::TcpStream>,
}

impl TcpStream {
    fn wrap(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            source: Source::new(stream, "TcpStream::connect()")?,
        })
    }

    /// Connects to `addr`, trying each address it resolves to in turn. A host name is resolved
    /// with the system resolver, which blocks; pass an IP address to avoid that. For a deadline,
    /// wrap it in [`timeout`](crate::timeout).
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing listens there, `TimedOut`, `NetworkUnreachable`, ...:
    /// the error of the last address tried.
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::net::{TcpListener, TcpStream};
    ///
    /// asyncio::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let stream = TcpStream::connect(addr).await.unwrap();
    ///     assert_eq!(stream.peer_addr().unwrap(), addr);
    ///     drop(listener);
    ///     let refused = TcpStream::connect(addr).await.unwrap_err();
    ///     assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    /// });
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in resolve(addr)? {
            match Self::connect_one(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::wrap(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| {
            poll_connected(&stream.source, cx, mio::net::TcpStream::take_error, |s| {
                s.peer_addr().map(drop)
            })
        })
        .await?;
        Ok(stream)
    }

    /// Shuts down the reading, writing or both directions. `Shutdown::Write` is a half-close
    /// (asyncio's `write_eof`): the peer reads end-of-file and may still send.
    ///
    /// # Errors
    /// `NotConnected` if the connection is gone.
    ///
    /// # Examples
    ///
    /// See [`TcpStream`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// The address of the peer.
    ///
    /// # Errors
    /// `NotConnected` if the connection is gone.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::connect`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// The local address of this end.
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::connect`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::net::{TcpListener, TcpStream};
    /// asyncio::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     s.set_nodelay(true).unwrap();
    /// });
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source.get_ref().set_nodelay(nodelay)
    }
}

stream_io!(
    TcpStream,
    r#"```
use asyncio::net::{TcpListener, TcpStream};

asyncio::run(async {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    assert_eq!(client.write(b"abc").await.unwrap(), 3);
    let mut buf = [0; 8];
    let n = server.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"abc");
});
```"#
);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
