//! Request bodies that can be sent again: a body is described by [`Payload`]
//! (bytes and files, in order) and opened anew for every attempt, so a retried
//! upload re-reads its file from the start instead of sending an empty,
//! already-consumed stream. Files are streamed, never read whole into memory.
//! [`Multipart`] builds a `multipart/form-data` payload (the PyPI legacy
//! upload API) from text fields and one file.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

/// One piece of a [`Payload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// These bytes, as given.
    Bytes(Bytes),
    /// The whole content of this file, read when the request is sent.
    File(PathBuf),
}

/// What a request sends: pieces concatenated in order. Cheap to clone (the
/// bytes are reference-counted; files are named, not held open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    parts: Vec<Part>,
}

impl Payload {
    /// No body.
    pub fn empty() -> Self {
        Payload::default()
    }

    /// A body of these bytes.
    pub fn bytes(b: impl Into<Bytes>) -> Self {
        Payload {
            parts: vec![Part::Bytes(b.into())],
        }
    }

    /// A body streamed from this file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Payload {
            parts: vec![Part::File(path.into())],
        }
    }

    /// A body of these pieces, in order.
    pub fn from_parts(parts: Vec<Part>) -> Self {
        Payload { parts }
    }

    /// Open the files and give a body ready to send, with its exact length.
    pub(crate) fn open(&self) -> io::Result<RequestBody> {
        let mut parts = VecDeque::new();
        let mut len = 0u64;
        for part in &self.parts {
            match part {
                Part::Bytes(b) => {
                    len += b.len() as u64;
                    parts.push_back(OpenPart::Bytes(b.clone()));
                }
                Part::File(path) => {
                    let file = std::fs::File::open(path).map_err(|e| with_path(e, path))?;
                    let size = file.metadata().map_err(|e| with_path(e, path))?.len();
                    len += size;
                    parts.push_back(OpenPart::File(tokio::fs::File::from_std(file), size));
                }
            }
        }
        Ok(RequestBody {
            parts,
            remaining: len,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
        })
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[derive(Debug)]
enum OpenPart {
    Bytes(Bytes),
    /// A file and the bytes still expected from it (a file that shrinks while
    /// being sent is an error, not a short body).
    File(tokio::fs::File, u64),
}

/// A [`Payload`] being sent.
#[derive(Debug)]
pub(crate) struct RequestBody {
    parts: VecDeque<OpenPart>,
    remaining: u64,
    buf: Box<[u8]>,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match this.parts.front_mut() {
                None => return Poll::Ready(None),
                Some(OpenPart::Bytes(_)) => {
                    let Some(OpenPart::Bytes(b)) = this.parts.pop_front() else {
                        unreachable!("front was bytes")
                    };
                    this.remaining -= b.len() as u64;
                    if !b.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(b))));
                    }
                }
                Some(OpenPart::File(file, left)) => {
                    let mut rb = ReadBuf::new(&mut this.buf);
                    match Pin::new(file).poll_read(cx, &mut rb) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(Ok(())) => {}
                    }
                    let n = rb.filled().len() as u64;
                    if n == 0 {
                        if *left != 0 {
                            return Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shrank while being sent",
                            ))));
                        }
                        this.parts.pop_front();
                        continue;
                    }
                    if n > *left {
                        return Poll::Ready(Some(Err(io::Error::other(
                            "file grew while being sent",
                        ))));
                    }
                    *left -= n;
                    this.remaining -= n;
                    let chunk = Bytes::copy_from_slice(rb.filled());
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A `multipart/form-data` body: text fields, then files, each named.
#[derive(Debug, Clone)]
pub struct Multipart {
    boundary: String,
    parts: Vec<Part>,
}

impl Default for Multipart {
    fn default() -> Self {
        Self::new()
    }
}

impl Multipart {
    /// An empty form with a random boundary.
    pub fn new() -> Self {
        let boundary = format!(
            "wheelwright-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        Multipart {
            boundary,
            parts: Vec::new(),
        }
    }

    /// Add a text field (repeat a name for a list, as PyPI's `classifiers`).
    pub fn text(mut self, name: &str, value: &str) -> Self {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
            self.boundary,
            quote(name)
        );
        self.parts.push(Part::Bytes(Bytes::from(head)));
        self.parts
            .push(Part::Bytes(Bytes::from(format!("{value}\r\n"))));
        self
    }

    /// Add a file field: the file's bytes, sent as `filename`
    /// (`application/octet-stream`).
    pub fn file(mut self, name: &str, filename: &str, path: impl Into<PathBuf>) -> Self {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            self.boundary,
            quote(name),
            quote(filename)
        );
        self.parts.push(Part::Bytes(Bytes::from(head)));
        self.parts.push(Part::File(path.into()));
        self.parts.push(Part::Bytes(Bytes::from_static(b"\r\n")));
        self
    }

    /// The `Content-Type` header value (with the boundary).
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The body, closing boundary included.
    pub fn into_payload(mut self) -> Payload {
        self.parts.push(Part::Bytes(Bytes::from(format!(
            "--{}--\r\n",
            self.boundary
        ))));
        Payload::from_parts(self.parts)
    }
}

/// Quote a form-data name: `"` and line breaks escaped as browsers do (WHATWG).
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
