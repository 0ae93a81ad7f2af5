//! Unix-domain stream sockets: `UnixListener` and `UnixStream`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::{poll_connected, stream_io};
use crate::runtime::reactor::{Direction, Source};

/// A Unix-domain socket listening for connections (asyncio's `start_unix_server` listens on one).
///
/// # Examples
///
/// ```
/// use asyncio::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("asyncio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("listener.sock");
/// let _ = std::fs::remove_file(&path);
/// asyncio::run(async {
///     let listener = UnixListener::bind(&path).unwrap();
///     let client = UnixStream::connect(&path).await.unwrap();
///     let (server, _) = listener.accept().await.unwrap();
///     client.write_all(b"over unix").await.unwrap();
///     let mut buf = [0; 9];
///     server.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"over unix");
/// });
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct UnixListener {
    source: Source<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds to the socket file `path` and listens. The file must not exist yet; remove a stale
    /// one first.
    ///
    /// # Errors
    /// `AddrInUse` if the file exists, `NotFound` if its directory does not, ...
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let listener = mio::net::UnixListener::bind(path)?;
        Ok(UnixListener {
            source: Source::new(listener, "UnixListener::bind()")?,
        })
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) =
            poll_fn(|cx| self.source.poll_io(cx, Direction::Read, |l| l.accept())).await?;
        Ok((UnixStream::wrap(stream)?, addr))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix-domain stream connection; reads and writes as on a [`TcpStream`](crate::net::TcpStream).
///
/// # Examples
///
/// ```
/// use asyncio::net::UnixStream;
///
/// asyncio::run(async {
///     let (a, b) = UnixStream::pair().unwrap();
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub struct UnixStream {
    source: Source<mio::net::UnixStream>,
}

impl UnixStream {
    fn wrap(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            source: Source::new(stream, "UnixStream::connect()")?,
        })
    }

    /// Connects to the socket file `path`.
    ///
    /// # Errors
    /// `NotFound` when there is no such file, `ConnectionRefused` when nobody listens on it.
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream::wrap(mio::net::UnixStream::connect(path)?)?;
        poll_fn(|cx| {
            poll_connected(&stream.source, cx, mio::net::UnixStream::take_error, |s| {
                s.peer_addr().map(drop)
            })
        })
        .await?;
        Ok(stream)
    }

    /// A connected pair of streams (`socketpair`).
    ///
    /// # Errors
    /// As the system reports them (e.g. out of file descriptors).
    ///
    /// # Panics
    /// Outside a running event loop.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::wrap(a)?, UnixStream::wrap(b)?))
    }

    /// Shuts down one or both directions; `Shutdown::Write` is a half-close.
    ///
    /// # Errors
    /// `NotConnected` if the connection is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::net::UnixStream;
    /// asyncio::run(async {
    ///     let (a, b) = UnixStream::pair().unwrap();
    ///     a.shutdown(std::net::Shutdown::Write).unwrap();
    ///     assert_eq!(b.read(&mut [0; 4]).await.unwrap(), 0);
    /// });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// This end's address.
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }
}

stream_io!(
    UnixStream,
    r#"```
use asyncio::net::UnixStream;

asyncio::run(async {
    let (a, b) = UnixStream::pair().unwrap();
    assert_eq!(a.write(b"abc").await.unwrap(), 3);
    let mut buf = [0; 8];
    let n = b.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"abc");
});
```"#
);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
