//! Request bodies that can be sent again: a [`Payload`] names its bytes or
//! file and is opened anew for every attempt, so a retried upload re-reads
//! its file from the start instead of sending an empty, already-consumed
//! stream (which is why no retry middleware can do it). Files are streamed,
//! never read whole into memory, with their length announced.
//! [`Multipart`] describes a `multipart/form-data` body (the PyPI legacy
//! upload API), built into reqwest's form for each attempt.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use reqwest::multipart::{Form, Part};

/// What a request sends. Cheap to clone (bytes are reference-counted; files
/// are named, not held open).
#[derive(Debug, Clone, Default)]
pub enum Payload {
    /// No body.
    #[default]
    Empty,
    /// These bytes.
    Bytes(Bytes),
    /// The whole content of this file, read when the request is sent.
    File(PathBuf),
    /// A `multipart/form-data` form (its `Content-Type` is set with it).
    Form(Multipart),
}

impl Payload {
    /// No body.
    pub fn empty() -> Self {
        Payload::Empty
    }

    /// A body of these bytes.
    pub fn bytes(b: impl Into<Bytes>) -> Self {
        Payload::Bytes(b.into())
    }

    /// A body streamed from this file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Payload::File(path.into())
    }

    /// Put this payload on `builder`, opening its file now.
    pub(crate) async fn attach(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> std::io::Result<reqwest::RequestBuilder> {
        Ok(match self {
            Payload::Empty => builder,
            Payload::Bytes(b) => builder.body(b.clone()),
            Payload::File(path) => {
                let (file, len) = open(path).await?;
                builder
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(reqwest::Body::from(file))
            }
            Payload::Form(form) => builder.multipart(form.build().await?),
        })
    }
}

/// A file opened for sending, and its length.
async fn open(path: &Path) -> std::io::Result<(tokio::fs::File, u64)> {
    let with_path =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file = tokio::fs::File::open(path).await.map_err(with_path)?;
    let len = file.metadata().await.map_err(with_path)?.len();
    Ok((file, len))
}

/// A `multipart/form-data` body: text fields, then files, each named.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    texts: Vec<(String, String)>,
    files: Vec<(String, String, PathBuf)>,
}

impl Multipart {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a text field (repeat a name for a list, as PyPI's `classifiers`).
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.texts.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a file field: the file's bytes, sent as `filename`
    /// (`application/octet-stream`).
    pub fn file(mut self, name: &str, filename: &str, path: impl Into<PathBuf>) -> Self {
        self.files
            .push((name.to_string(), filename.to_string(), path.into()));
        self
    }

    /// reqwest's form of it, its files opened now (and their lengths
    /// announced, so the request has a `Content-Length`).
    async fn build(&self) -> std::io::Result<Form> {
        let mut form = Form::new();
        for (name, value) in &self.texts {
            form = form.text(name.clone(), value.clone());
        }
        for (name, filename, path) in &self.files {
            let (file, len) = open(path).await?;
            let part = Part::stream_with_length(reqwest::Body::from(file), len)
                .file_name(filename.clone())
                .mime_str("application/octet-stream")
                .map_err(std::io::Error::other)?;
            form = form.part(name.clone(), part);
        }
        Ok(form)
    }
}
