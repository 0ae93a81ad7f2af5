//! Subprocesses: `create_subprocess_exec`, and a [`Child`] whose pipes are asyncio streams.
//!
//! A child is started with `std::process::Command`; its piped stdin, stdout and stderr become
//! non-blocking pipes registered with the loop's reactor, wrapped as a [`StreamWriter`] and
//! [`StreamReader`]s as asyncio's `Process.stdin`/`.stdout`/`.stderr` are.
//!
//! # Reaping
//! No thread per child: [`Child::wait`] listens for `SIGCHLD` (through [`Signal`], a self-pipe
//! the reactor watches) and asks the kernel about its own pid only (`waitpid(pid, WNOHANG)`, which
//! leaves other children alone) each time one arrives. A pidfd would save the signal on Linux
//! 5.3+, but opening one needs a raw system call (unsafe code) and is Linux-only; SIGCHLD works on
//! every Unix with the signal machinery we already have. Since every `SIGCHLD` wakes every child
//! waiting on the loop, a wait costs O(children waiting) per exit: fine for the tens of children a
//! program runs at once, to revisit with pidfds for thousands.
//!
//! # Signalling
//! [`Child::send_signal`], [`Child::terminate`] and [`Child::kill`] share one path: `kill(2)`
//! through rustix, refused once this `Child` has reaped the child, because from then on its pid
//! may be reused by an unrelated process. Until we reap it, the pid cannot be reused (an ended
//! child stays a zombie), so the check needs no race with the kernel.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::pin;
use std::process::{Command, ExitStatus, Stdio};
use std::task::{Context, Poll};

use signal_hook::consts::signal::{SIGCHLD, SIGKILL, SIGTERM};

use crate::runtime::reactor::{Direction, Source};
use crate::signal::Signal;
use crate::streams::{
    shared_of, StreamError, StreamReader, StreamWriter, Transport, DEFAULT_LIMIT,
};

/// Starts `program` with `args`, its stdin, stdout and stderr piped to the returned [`Child`]
/// (asyncio's `create_subprocess_exec(program, *args, stdin=PIPE, stdout=PIPE, stderr=PIPE)`).
///
/// # Errors
/// `NotFound` when there is no such program (the message names it), `PermissionDenied` when it
/// is not executable, and other errors as the system reports them.
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let child = asyncio::create_subprocess_exec("echo", ["hello", "child"]).unwrap();
///     let out = child.communicate(None).await.unwrap();
///     assert!(out.status.success());
///     assert_eq!(out.stdout, b"hello child\n");
/// });
/// ```
pub fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> io::Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn(command)
}

/// Starts a configured `std::process::Command` on the loop; the streams set to
/// `Stdio::piped()` become the child's [`stdin`](Child::stdin), [`stdout`](Child::stdout) and
/// [`stderr`](Child::stderr).
///
/// # Errors
/// As [`create_subprocess_exec`].
///
/// # Panics
/// Outside a running event loop.
///
/// # Examples
///
/// ```
/// use std::process::{Command, Stdio};
///
/// asyncio::run(async {
///     let mut cmd = Command::new("sh");
///     cmd.args(["-c", "exit 3"]).stdin(Stdio::null());
///     let mut child = asyncio::process::spawn(cmd).unwrap();
///     assert_eq!(child.wait().await.unwrap().code(), Some(3));
/// });
/// ```
pub fn spawn(mut command: Command) -> io::Result<Child> {
    // Listen before the child exists, so its SIGCHLD cannot be missed.
    let sigchld = Signal::new(SIGCHLD)?;
    let mut child = command.spawn().map_err(|e| {
        let program = command.get_program().to_string_lossy().into_owned();
        let hint = match e.kind() {
            io::ErrorKind::NotFound => "; check the program's name and PATH",
            io::ErrorKind::PermissionDenied => "; check that it is executable",
            _ => "",
        };
        io::Error::new(e.kind(), format!("could not start `{program}`: {e}{hint}"))
    })?;
    let stdin = child.stdin.take().map(PipeWriter::new).transpose()?;
    let stdout = child.stdout.take().map(PipeReader::new).transpose()?;
    let stderr = child.stderr.take().map(PipeReader::new).transpose()?;
    Ok(Child {
        stdin: stdin.map(|p| StreamWriter::from_shared(shared_of(p), None)),
        stdout: stdout.map(|p| StreamReader::from_shared(shared_of(p), DEFAULT_LIMIT)),
        stderr: stderr.map(|p| StreamReader::from_shared(shared_of(p), DEFAULT_LIMIT)),
        waiter: Some(Waiter {
            child,
            sigchld,
            status: None,
        }),
    })
}

/// A running (or finished) subprocess (asyncio's `asyncio.subprocess.Process`).
///
/// Dropping a `Child` does not kill it; a child not yet reaped is then reaped by a task on the
/// loop (while the loop runs), so it does not linger as a zombie.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let mut child = asyncio::create_subprocess_exec("cat", [] as [&str; 0]).unwrap();
///     let mut stdin = child.stdin.take().unwrap();
///     let mut stdout = child.stdout.take().unwrap();
///     stdin.write_all(b"line through cat\n").await.unwrap();
///     assert_eq!(stdout.readline().await.unwrap(), b"line through cat\n");
///     stdin.close(); // cat sees end-of-file and exits
///     assert!(child.wait().await.unwrap().success());
/// });
/// ```
pub struct Child {
    /// The child's standard input, if piped (asyncio's `Process.stdin`).
    pub stdin: Option<StreamWriter>,
    /// The child's standard output, if piped (asyncio's `Process.stdout`).
    pub stdout: Option<StreamReader>,
    /// The child's standard error, if piped (asyncio's `Process.stderr`).
    pub stderr: Option<StreamReader>,
    /// Always `Some` until dropped.
    waiter: Option<Waiter>,
}

/// The part of a child that reaps it.
struct Waiter {
    child: std::process::Child,
    sigchld: Signal,
    status: Option<ExitStatus>,
}

impl Waiter {
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            self.sigchld.recv().await?;
        }
    }
}

/// What [`Child::communicate`] collects: the exit status and all the output.
///
/// # Examples
///
/// See [`create_subprocess_exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How the child ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout (empty if stdout was not piped).
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr (empty if stderr was not piped).
    pub stderr: Vec<u8>,
}

impl Child {
    /// The child's process id (asyncio's `Process.pid`).
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let mut child = asyncio::create_subprocess_exec("true", [] as [&str; 0]).unwrap();
    ///     assert!(child.pid() > 0);
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    pub fn pid(&self) -> u32 {
        self.waiter_ref().child.id()
    }

    fn waiter_ref(&self) -> &Waiter {
        self.waiter
            .as_ref()
            .expect("a Child has its waiter until dropped")
    }

    fn waiter(&mut self) -> &mut Waiter {
        self.waiter
            .as_mut()
            .expect("a Child has its waiter until dropped")
    }

    /// The exit status if the child has ended, without waiting (asyncio's `returncode`).
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let mut child = asyncio::create_subprocess_exec("sleep", ["5"]).unwrap();
    ///     assert_eq!(child.try_wait().unwrap(), None);
    ///     child.kill().unwrap();
    ///     child.wait().await.unwrap();
    ///     assert!(child.try_wait().unwrap().is_some());
    /// });
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.waiter().try_wait()
    }

    /// Waits for the child to end and returns its status (asyncio's `wait()`). Does not close
    /// stdin: a child that reads it until end-of-file needs [`StreamWriter::close`] first, or
    /// use [`communicate`](Self::communicate).
    ///
    /// # Errors
    /// As the system reports them.
    ///
    /// # Examples
    ///
    /// See [`Child`].
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.waiter().wait().await
    }

    /// Sends `signal` to the child (asyncio's `Process.send_signal(sig)`): a number from
    /// [`signal::consts`](crate::signal::consts), as [`add_signal_handler`] takes.
    ///
    /// Once the child's end has been reported — [`wait`](Self::wait) or
    /// [`try_wait`](Self::try_wait) returned its status — it is not signalled: it was reaped,
    /// its pid went back to the system and may name another process by now. That is an error,
    /// as asyncio raises `ProcessLookupError`; it is decided from what this `Child` has seen, not
    /// by asking the kernel. A child that ended unnoticed keeps its pid until it is reaped, so
    /// signalling it is harmless: `Ok`, and `wait` then reports how it really ended.
    ///
    /// [`add_signal_handler`]: crate::signal::add_signal_handler
    ///
    /// # Errors
    /// `InvalidInput` for a number that names no signal (0, negative, real-time signals);
    /// `NotFound` once the child's end has been reported (see above); others as the system
    /// reports them.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncio::signal::consts::SIGUSR1;
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// asyncio::run(async {
    ///     let mut child = asyncio::create_subprocess_exec("sleep", ["30"]).unwrap();
    ///     child.send_signal(SIGUSR1).unwrap(); // sleep does not catch it, so it ends sleep
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(SIGUSR1));
    ///     // Reaped: its pid is no longer ours to signal.
    ///     let err = child.send_signal(SIGUSR1).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        use rustix::process::{kill_process, Pid, Signal as Sig};
        let waiter = self.waiter_ref();
        let pid = waiter.child.id();
        let Some(sig) = Sig::from_named_raw(signal) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot send signal {signal} to child {pid}: no such signal; use one of \
                     asyncio::signal::consts (SIGTERM, SIGKILL, SIGUSR1, ...)"
                ),
            ));
        };
        if let Some(status) = waiter.status {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cannot send {} to child {pid}: it already ended ({status}) and was reaped, \
                     so its pid may belong to another process now",
                    crate::signal::name(signal)
                ),
            ));
        }
        // Not yet reaped by us, so the pid is still this child's (at worst a zombie).
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .expect("a child's pid is a positive pid_t");
        kill_process(pid, sig).map_err(io::Error::from)
    }

    /// Asks the child to end with `SIGTERM` (asyncio's `terminate()`); [`wait`](Self::wait) then
    /// reports the signal, unless the child catches it.
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal): `NotFound` once the child's end has been reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// asyncio::run(async {
    ///     let mut child = asyncio::create_subprocess_exec("sleep", ["30"]).unwrap();
    ///     child.terminate().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(15));
    /// });
    /// ```
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(SIGTERM)
    }

    /// Kills the child with `SIGKILL` (asyncio's `kill()`); [`wait`](Self::wait) then reports the
    /// signal.
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal): `NotFound` once the child's end has been reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// asyncio::run(async {
    ///     let mut child = asyncio::create_subprocess_exec("sleep", ["30"]).unwrap();
    ///     child.kill().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(9));
    /// });
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(SIGKILL)
    }

    /// Sends `input` to stdin and closes it, reads stdout and stderr to their end, and waits for
    /// the child (asyncio's `communicate(input)`). A child that exits without reading all its
    /// input is not an error (the broken pipe is ignored, as asyncio does).
    ///
    /// # Errors
    /// I/O errors of the pipes or the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// asyncio::run(async {
    ///     let child = asyncio::create_subprocess_exec("tr", ["a-z", "A-Z"]).unwrap();
    ///     let out = child.communicate(Some(b"shout")).await.unwrap();
    ///     assert_eq!(out.stdout, b"SHOUT");
    /// });
    /// ```
    pub async fn communicate(mut self, input: Option<&[u8]>) -> io::Result<Output> {
        let stdin = self.stdin.take();
        let stdout = self.stdout.take();
        let stderr = self.stderr.take();
        let feed = async move {
            if let Some(mut w) = stdin {
                if let Some(data) = input {
                    match w.write_all(data).await {
                        Err(StreamError::Io(e))
                            if matches!(
                                e.kind(),
                                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                            ) => {}
                        Err(e) => return Err(io::Error::from(e)),
                        Ok(()) => {}
                    }
                }
                w.close();
            }
            Ok(())
        };
        let collect = |r: Option<StreamReader>| async move {
            match r {
                Some(mut r) => r.read_to_end().await.map_err(io::Error::from),
                None => Ok(Vec::new()),
            }
        };
        let (fed, out, err) = join3(feed, collect(stdout), collect(stderr)).await;
        fed?;
        let (stdout, stderr) = (out?, err?);
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Polls three futures to completion together (on one task).
async fn join3<A: Future, B: Future, C: Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    let (mut a, mut b, mut c) = (pin!(a), pin!(b), pin!(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            ra = ready(a.as_mut().poll(cx));
        }
        if rb.is_none() {
            rb = ready(b.as_mut().poll(cx));
        }
        if rc.is_none() {
            rc = ready(c.as_mut().poll(cx));
        }
        if ra.is_some() && rb.is_some() && rc.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap(), rc.unwrap())
}

fn ready<T>(p: Poll<T>) -> Option<T> {
    match p {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut waiter) = self.waiter.take() else {
            return;
        };
        if matches!(waiter.try_wait(), Ok(None)) && crate::runtime::try_with_core(|_| ()).is_some()
        {
            // Reap it when it ends, so it does not stay a zombie.
            crate::task::spawn(async move {
                let _ = waiter.wait().await;
            })
            .detach();
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid())
            .field("status", &self.waiter_ref().status)
            .finish()
    }
}

/// The read end of a child's stdout or stderr.
struct PipeReader(Source<mio::unix::pipe::Receiver>);

impl PipeReader {
    fn new(pipe: impl Into<mio::unix::pipe::Receiver>) -> io::Result<PipeReader> {
        let pipe = pipe.into();
        pipe.set_nonblocking(true)?;
        Ok(PipeReader(Source::new(pipe, "create_subprocess_exec()")?))
    }
}

impl Transport for PipeReader {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.0
            .poll_transfer(cx, Direction::Read, len, |mut p| p.read(buf))
    }
    fn poll_write(&self, _cx: &mut Context<'_>, _buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a child's stdout/stderr can only be read",
        )))
    }
    fn shutdown(&self, _how: Shutdown) -> io::Result<()> {
        Ok(())
    }
}

/// The write end of a child's stdin; closing it (shutdown) drops the pipe so the child reads
/// end-of-file.
struct PipeWriter(RefCell<Option<Source<mio::unix::pipe::Sender>>>);

impl PipeWriter {
    fn new(pipe: impl Into<mio::unix::pipe::Sender>) -> io::Result<PipeWriter> {
        let pipe = pipe.into();
        pipe.set_nonblocking(true)?;
        Ok(PipeWriter(RefCell::new(Some(Source::new(
            pipe,
            "create_subprocess_exec()",
        )?))))
    }
}

impl Transport for PipeWriter {
    fn poll_read(&self, _cx: &mut Context<'_>, _buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a child's stdin can only be written",
        )))
    }
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &*self.0.borrow() {
            Some(source) => {
                source.poll_transfer(cx, Direction::Write, buf.len(), |mut p| p.write(buf))
            }
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the child's stdin was closed",
            ))),
        }
    }
    fn shutdown(&self, _how: Shutdown) -> io::Result<()> {
        let pipe = self.0.borrow_mut().take();
        drop(pipe);
        Ok(())
    }
}
