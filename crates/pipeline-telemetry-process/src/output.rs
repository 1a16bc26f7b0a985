//! The child's output: a bounded tail of stderr, optional capture of
//! stdout, and optional forwarding of each line to the parent's log.

use std::collections::VecDeque;

/// Longest line forwarded to the log; longer lines are cut there.
pub const MAX_FORWARDED_LINE: usize = 8 * 1024;

/// Which of the child's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The last `cap` bytes written.
#[derive(Debug)]
pub(crate) struct Tail {
    buf: VecDeque<u8>,
    cap: usize,
    truncated: bool,
}

impl Tail {
    pub(crate) fn new(cap: usize) -> Self {
        Tail {
            buf: VecDeque::with_capacity(cap.min(64 * 1024)),
            cap,
            truncated: false,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.cap == 0 {
            self.truncated |= !bytes.is_empty();
            return;
        }
        let bytes = if bytes.len() > self.cap {
            self.truncated = true;
            &bytes[bytes.len() - self.cap..]
        } else {
            bytes
        };
        let over = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        if over > 0 {
            self.truncated = true;
            self.buf.drain(..over);
        }
        self.buf.extend(bytes);
    }

    /// The tail as text that is safe anywhere, at most `cap` bytes plus
    /// the leading `…`: valid UTF-8 (invalid bytes,
    /// and a character cut at the start, become U+FFFD), control characters
    /// other than newline and tab replaced, trailing whitespace trimmed.
    pub(crate) fn text(&self) -> String {
        let (a, b) = self.buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        let mut start = 0;
        if self.truncated {
            // Skip continuation bytes of a character cut by the bound.
            while start < bytes.len() && start < 3 && (bytes[start] & 0xC0) == 0x80 {
                start += 1;
            }
        }
        let text = clean_text(&bytes[start..]);
        let mut text = text.trim_end();
        // Replacement characters are longer than the bytes they replace:
        // the bound holds for the text too.
        let mut truncated = self.truncated;
        if text.len() > self.cap {
            let mut cut = text.len() - self.cap;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text = &text[cut..];
            truncated = true;
        }
        if truncated && !text.is_empty() {
            format!("…{text}")
        } else {
            text.to_owned()
        }
    }
}

/// Valid UTF-8 with control characters (other than `\n`, `\t`) replaced by
/// U+FFFD.
pub(crate) fn clean_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

/// Collects one child stream's bytes: the stderr tail, the stdout capture, forwarded lines.
#[derive(Debug)]
pub(crate) struct OutputCollector {
    stream: Stream,
    tail: Option<Tail>,
    capture: Option<Tail>,
    forward: Option<tracing::Span>,
    line: Vec<u8>,
    line_cut: bool,
}

impl OutputCollector {
    pub(crate) fn new(
        stream: Stream,
        tail: Option<usize>,
        capture: Option<usize>,
        forward: Option<tracing::Span>,
    ) -> Self {
        OutputCollector {
            stream,
            tail: tail.map(Tail::new),
            capture: capture.map(Tail::new),
            forward,
            line: Vec::new(),
            line_cut: false,
        }
    }

    /// A collector that keeps nothing.
    pub(crate) fn none() -> Self {
        OutputCollector::new(Stream::Stdout, None, None, None)
    }

    /// Whether the stream has to be read at all.
    pub(crate) fn wants_bytes(&self) -> bool {
        self.tail.is_some() || self.capture.is_some() || self.forward.is_some()
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if let Some(t) = &mut self.tail {
            t.push(bytes);
        }
        if let Some(c) = &mut self.capture {
            c.push(bytes);
        }
        if self.forward.is_none() {
            return;
        }
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.push_line_part(&rest[..nl]);
            self.emit_line();
            rest = &rest[nl + 1..];
        }
        self.push_line_part(rest);
    }

    fn push_line_part(&mut self, part: &[u8]) {
        let room = MAX_FORWARDED_LINE.saturating_sub(self.line.len());
        if part.len() > room {
            self.line_cut = true;
        }
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn emit_line(&mut self) {
        if let Some(span) = &self.forward {
            let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
            let mut text = clean_text(line);
            if self.line_cut {
                text.push('…');
            }
            tracing::info!(
                target: "pipeline_telemetry::process",
                parent: span,
                stream = self.stream.name(),
                "{text}"
            );
        }
        self.line.clear();
        self.line_cut = false;
    }

    /// Forwards a last line without a newline, and returns the tail and
    /// the captured bytes.
    pub(crate) fn finish(mut self) -> (Option<String>, Vec<u8>) {
        if !self.line.is_empty() || self.line_cut {
            self.emit_line();
        }
        let tail = self.tail.as_ref().map(Tail::text);
        let captured = self
            .capture
            .map(|c| c.buf.into_iter().collect())
            .unwrap_or_default();
        (tail, captured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes_as_valid_text() {
        let mut t = Tail::new(8);
        t.push(b"0123456789");
        t.push("é\x00".as_bytes());
        t.push(&[0xff]);
        let text = t.text();
        assert!(text.starts_with('…'), "{text}");
        assert!(text.chars().count() <= 9);
        assert!(!text.contains('\0'));
    }

    #[test]
    fn tail_skips_a_cut_character() {
        let mut t = Tail::new(5);
        t.push("aaaaéééé".as_bytes()); // é is 2 bytes: the cut lands inside one
        assert_eq!(t.text(), "…éé");
    }

    #[test]
    fn huge_write_is_bounded() {
        let mut t = Tail::new(1024);
        t.push(&vec![b'x'; 10 << 20]);
        assert_eq!(t.buf.len(), 1024);
    }
}
