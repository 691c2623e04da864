//! A writer that masks secrets in a stream, however the stream is cut into
//! writes: `build.log` goes through one, so every line wheelwright puts there
//! (the build's output, its own notes) is masked in one place.
//!
//! A secret may arrive in pieces (`wr` in one write, `ite` in the next), so
//! the writer holds back the last, unfinished line and masks whole lines
//! ([`SecretSet::mask`]: values, then token shapes). A line that runs past
//! [`MAX_HELD_BYTES`] without a newline is let out early, up to a point that
//! splits no secret value: all but the last [`SecretSet::longest`] bytes (at
//! least [`MIN_HELD_TAIL`]), moved back to a space where one is near (token
//! shapes hold none) and forward past any value that crosses it.
//!
//! [`Write::flush`] passes on what is complete; the unfinished line goes out
//! with [`MaskingWriter::finish`] or when the writer is dropped.

use std::io::{self, Write};

use super::secrets::SecretSet;

/// Bytes of an unfinished line held back before part of it is let out.
pub const MAX_HELD_BYTES: usize = 64 * 1024;
/// Bytes always kept back of an overlong line, for token shapes and URLs.
pub const MIN_HELD_TAIL: usize = 1024;

/// Masks what passes through into `inner`.
#[derive(Debug)]
pub struct MaskingWriter<'s, W: Write> {
    inner: Option<W>,
    secrets: &'s SecretSet,
    held: Vec<u8>,
}

impl<'s, W: Write> MaskingWriter<'s, W> {
    /// Mask with `secrets` into `inner`.
    pub fn new(inner: W, secrets: &'s SecretSet) -> Self {
        MaskingWriter {
            inner: Some(inner),
            secrets,
            held: Vec::new(),
        }
    }

    /// The writer underneath (what was let out so far is in it).
    pub fn get_ref(&self) -> &W {
        self.inner.as_ref().expect("present until finish")
    }

    /// Let out the unfinished line too, flush, and give the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.let_out_all()?;
        let mut inner = self.inner.take().expect("present until finish");
        inner.flush()?;
        Ok(inner)
    }

    fn let_out_all(&mut self) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        self.emit(&held)
    }

    /// Mask `bytes` (whole lines, or a piece no secret crosses) and write them.
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(bytes);
        let masked = self.secrets.mask(&text);
        self.inner
            .as_mut()
            .expect("present until finish")
            .write_all(masked.as_bytes())
    }

    /// Where an overlong unfinished line may be cut.
    fn cut_point(&self) -> usize {
        let held = &self.held;
        let tail = self.secrets.longest().max(MIN_HELD_TAIL);
        let mut cut = held.len().saturating_sub(tail);
        // Back to just after a space near the cut (tokens and URLs hold none).
        let window = cut.saturating_sub(MIN_HELD_TAIL);
        if let Some(space) = held[window..cut].iter().rposition(u8::is_ascii_whitespace) {
            cut = window + space + 1;
        }
        // Not inside a UTF-8 character.
        while cut > 0 && cut < held.len() && (held[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        // Past a value that crosses the cut (it lies whole in what is held).
        for (start, end) in self.secrets.find_iter(held) {
            if start < cut && cut < end {
                cut = end;
            }
            if start >= cut {
                break;
            }
        }
        cut
    }
}

impl<W: Write> Write for MaskingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(buf);
        if let Some(last) = memchr::memrchr(b'\n', &self.held) {
            let rest = self.held.split_off(last + 1);
            let lines = std::mem::replace(&mut self.held, rest);
            self.emit(&lines)?;
        }
        if self.held.len() > MAX_HELD_BYTES {
            let cut = self.cut_point();
            let rest = self.held.split_off(cut);
            let piece = std::mem::replace(&mut self.held, rest);
            self.emit(&piece)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("present until finish").flush()
    }
}

impl<W: Write> Drop for MaskingWriter<'_, W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = self.let_out_all();
            if let Some(inner) = self.inner.as_mut() {
                let _ = inner.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(set: &SecretSet, chunks: &[&[u8]]) -> String {
        let mut w = MaskingWriter::new(Vec::new(), set);
        for c in chunks {
            w.write_all(c).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn a_secret_cut_across_writes_is_masked() {
        let set = SecretSet::from_values(["ghp_secret123"]);
        let out = stream(
            &set,
            &[
                b"token ghp_se",
                b"cret1",
                b"23 end\nnext ghp_secret",
                b"123",
            ],
        );
        assert_eq!(out, "token *** end\nnext ***");
    }

    #[test]
    fn an_overlong_line_is_let_out_without_splitting_a_secret() {
        let set = SecretSet::from_values(["s3cr3t-value"]);
        let mut w = MaskingWriter::new(Vec::new(), &set);
        let filler = "x".repeat(MAX_HELD_BYTES - 3);
        w.write_all(filler.as_bytes()).unwrap();
        w.write_all(b"s3cr3t-").unwrap();
        assert!(
            !w.get_ref().is_empty(),
            "part of an overlong line is let out"
        );
        w.write_all(b"value and more").unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out, format!("{filler}*** and more"));
    }

    #[test]
    fn dropping_lets_out_the_unfinished_line() {
        let set = SecretSet::from_values(["hunter2hunter2"]);
        let mut log = Vec::new();
        {
            let mut w = MaskingWriter::new(&mut log, &set);
            write!(w, "a\npassword hunter2hunter2").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(log).unwrap(), "a\npassword ***");
    }
}
