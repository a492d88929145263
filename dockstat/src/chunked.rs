//! Chunked transfer coding decoder (RFC 9112 §7.1).
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! A [`Dechunker`] is a state machine whose states are positions in that grammar. It is fed
//! whatever bytes arrived, in pieces of any size, and hands chunk data back as slices of the
//! input: the payload is never copied here. Sizes are checked for overflow, line endings must be
//! CRLF, extensions are skipped (but their length is capped) and trailers are discarded (their
//! size is capped too). Trailers never change the framing: a trailer named `Content-Length` or
//! `Transfer-Encoding` is skipped like any other.
//!
//! The size line follows the grammar above: whitespace after the size is BWS, allowed only
//! before a `;`, and a `;` must be followed (after BWS) by an extension name, so `5 \r\n` and
//! `5;\r\n` are errors, as llhttp makes them. Beyond that, an extension is only checked for
//! control bytes.
//!
//! What this module does not do: I/O, or anything with the payload (see [`crate::stats::FrameSplitter`]).

#![forbid(unsafe_code)]

use std::fmt;

/// Why a chunked body was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChunkedError {
    /// The chunk size is empty or holds a byte that is not a hex digit (`0x`, `+`, `-`, …).
    InvalidSize,
    /// The chunk size does not fit in 64 bits.
    SizeOverflow,
    /// The chunk-size line is longer than [`Dechunker::MAX_SIZE_LINE_LEN`].
    SizeLineTooLong,
    /// A chunk extension holds a control byte.
    InvalidExtension,
    /// A `;` is not followed by an extension name (RFC 9112 §7.1.1: `chunk-ext = *( BWS ";"
    /// BWS chunk-ext-name … )`, `chunk-ext-name = token`).
    MissingExtensionName,
    /// Whitespace after the chunk size that no `;` follows: the grammar allows whitespace
    /// there only as BWS before a chunk extension.
    WhitespaceAfterSize,
    /// A chunk-size or trailer line ends in a bare LF, or a CR is not followed by LF.
    LineEnding,
    /// Chunk data is not followed by CRLF.
    DataNotTerminated,
    /// The trailer section is longer than [`Dechunker::MAX_TRAILERS_LEN`].
    TrailersTooLarge,
    /// A trailer line holds a control byte.
    InvalidTrailer,
}

impl ChunkedError {
    /// A short description for messages.
    pub fn description(self) -> &'static str {
        match self {
            ChunkedError::InvalidSize => "chunk size is not a hexadecimal number",
            ChunkedError::SizeOverflow => "chunk size overflows 64 bits",
            ChunkedError::SizeLineTooLong => "chunk-size line is too long",
            ChunkedError::InvalidExtension => "control byte in a chunk extension",
            ChunkedError::MissingExtensionName => "chunk extension without a name",
            ChunkedError::WhitespaceAfterSize => "whitespace after the chunk size",
            ChunkedError::LineEnding => "chunk line does not end in CRLF",
            ChunkedError::DataNotTerminated => "chunk data is not followed by CRLF",
            ChunkedError::TrailersTooLarge => "chunked trailer section is too large",
            ChunkedError::InvalidTrailer => "control byte in a chunked trailer",
        }
    }
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for ChunkedError {}

/// What one call to [`Dechunker::decode`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Chunk data: a slice of the input (never empty).
    Data(&'a [u8]),
    /// The input was consumed without reaching chunk data or the end.
    NeedMore,
    /// The body is complete: the last chunk, trailers and final CRLF were consumed.
    End,
}

/// Positions in the chunked grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// Whitespace after the size: BWS, which a `;` must follow.
    SizeLws,
    /// After a `;`, before the extension's name (BWS allowed).
    ExtensionName,
    /// Inside chunk extensions, after the first byte of a name.
    Extension,
    /// Saw the CR ending the size line.
    SizeLf,
    /// Inside chunk data; `remaining` bytes left.
    Body,
    /// Chunk data done, expecting CR.
    BodyCr,
    /// Expecting the LF after chunk data.
    BodyLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Saw the CR ending a trailer line.
    TrailerLf,
    /// Saw the CR of the final CRLF.
    EndLf,
    /// The body is complete.
    Done,
}

/// Incremental decoder for one chunked body.
///
/// Feed it the body as it arrives; the data comes back as slices of the input, and a body
/// split anywhere decodes the same.
///
/// ```
/// use dockstat::chunked::{Chunk, ChunkedError, Dechunker};
///
/// # fn main() -> Result<(), ChunkedError> {
/// let reads: [&[u8]; 2] = [b"5\r\nhel", b"lo\r\n6;ext=1\r\n world\r\n0\r\n\r\n"];
/// let mut dechunker = Dechunker::new();
/// let mut body = Vec::new();
/// for read in reads {
///     let mut input = read;
///     while !input.is_empty() && !dechunker.is_done() {
///         let (chunk, used) = dechunker.decode(input);
///         if let Chunk::Data(data) = chunk? {
///             body.extend_from_slice(data);
///         }
///         input = &input[used..];
///     }
/// }
/// assert!(dechunker.is_done());
/// assert_eq!(body, b"hello world");
///
/// // A size that is not hex is an error, at the offset of the offending byte.
/// let (chunk, at) = Dechunker::new().decode(b"5x\r\n");
/// assert_eq!((chunk, at), (Err(ChunkedError::InvalidSize), 1));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Dechunker {
    state: State,
    /// The chunk size being read, then the data bytes left in the current chunk.
    remaining: u64,
    /// Bytes of the current size line (digits, whitespace and extensions).
    line_len: usize,
    trailers_len: usize,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Dechunker {
    /// The longest chunk-size line accepted, size digits and extensions included (CRLF
    /// excluded). Docker sends lines like `8a1`; extensions are never used by it.
    pub const MAX_SIZE_LINE_LEN: usize = 4096;

    /// The most trailer-section bytes accepted after the last chunk (CRLFs included).
    pub const MAX_TRAILERS_LEN: usize = 16 * 1024;

    /// A decoder at the start of a chunked body.
    pub fn new() -> Dechunker {
        Dechunker {
            state: State::SizeStart,
            remaining: 0,
            line_len: 0,
            trailers_len: 0,
        }
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, stopping at the first chunk data, the end of the body, or the end
    /// of the input.
    ///
    /// Returns what was found and how many bytes of `input` were consumed. On error, the count
    /// is the offset of the offending byte in `input`; the decoder must not be used again.
    /// Call again with the unconsumed rest to continue.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> (Result<Chunk<'a>, ChunkedError>, usize) {
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Done {
                break;
            }
            if self.state == State::Body {
                // Chunk data: hand out as much as is here, without looking at it.
                let n = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.state = State::BodyCr;
                }
                return (Ok(Chunk::Data(&input[i..i + n])), i + n);
            }
            if let Err(e) = self.step(input[i]) {
                return (Err(e), i);
            }
            i += 1;
        }
        if self.state == State::Done {
            return (Ok(Chunk::End), i);
        }
        (Ok(Chunk::NeedMore), i)
    }

    /// Advances the grammar by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), ChunkedError> {
        use State::*;
        self.state = match self.state {
            SizeStart => {
                self.remaining = u64::from(hex_value(b).ok_or(ChunkedError::InvalidSize)?);
                self.line_len = 1;
                Size
            }
            Size => {
                self.count_line(b)?;
                match b {
                    b'\r' => SizeLf,
                    b'\n' => return Err(ChunkedError::LineEnding),
                    b';' => ExtensionName,
                    b' ' | b'\t' => SizeLws,
                    _ => {
                        let digit = hex_value(b).ok_or(ChunkedError::InvalidSize)?;
                        self.remaining = self
                            .remaining
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(u64::from(digit)))
                            .ok_or(ChunkedError::SizeOverflow)?;
                        Size
                    }
                }
            }
            SizeLws => {
                self.count_line(b)?;
                match b {
                    b' ' | b'\t' => SizeLws,
                    b';' => ExtensionName,
                    // "5 \r\n": BWS with no extension after it.
                    b'\r' => return Err(ChunkedError::WhitespaceAfterSize),
                    b'\n' => return Err(ChunkedError::LineEnding),
                    // A second number after whitespace ("5 5") or anything else.
                    _ => return Err(ChunkedError::InvalidSize),
                }
            }
            ExtensionName => {
                self.count_line(b)?;
                match b {
                    b' ' | b'\t' => ExtensionName,
                    b'\n' => return Err(ChunkedError::LineEnding),
                    _ if crate::http::grammar::is_tchar(b) => Extension,
                    b'\r' => return Err(ChunkedError::MissingExtensionName),
                    _ if b < 0x20 || b == 0x7f => return Err(ChunkedError::InvalidExtension),
                    // "5;;a", "5;=b": a `;` without a name.
                    _ => return Err(ChunkedError::MissingExtensionName),
                }
            }
            Extension => {
                self.count_line(b)?;
                match b {
                    b'\r' => SizeLf,
                    b'\n' => return Err(ChunkedError::LineEnding),
                    b'\t' => Extension,
                    _ if b < 0x20 || b == 0x7f => return Err(ChunkedError::InvalidExtension),
                    _ => Extension,
                }
            }
            SizeLf => match b {
                b'\n' if self.remaining == 0 => TrailerStart,
                b'\n' => Body,
                _ => return Err(ChunkedError::LineEnding),
            },
            // `decode` hands out data itself; a zero-length remainder never stays in Body.
            Body => BodyCr,
            BodyCr => match b {
                b'\r' => BodyLf,
                _ => return Err(ChunkedError::DataNotTerminated),
            },
            BodyLf => match b {
                b'\n' => SizeStart,
                _ => return Err(ChunkedError::DataNotTerminated),
            },
            TrailerStart => {
                // The CR of the final CRLF ends the trailer section; it is not part of it.
                if b != b'\r' {
                    self.count_trailer()?;
                }
                match b {
                    b'\r' => EndLf,
                    b'\n' => return Err(ChunkedError::LineEnding),
                    _ => {
                        check_trailer_byte(b)?;
                        Trailer
                    }
                }
            }
            Trailer => {
                self.count_trailer()?;
                match b {
                    b'\r' => TrailerLf,
                    b'\n' => return Err(ChunkedError::LineEnding),
                    _ => {
                        check_trailer_byte(b)?;
                        Trailer
                    }
                }
            }
            TrailerLf => {
                self.count_trailer()?;
                match b {
                    b'\n' => TrailerStart,
                    _ => return Err(ChunkedError::LineEnding),
                }
            }
            EndLf => match b {
                b'\n' => Done,
                _ => return Err(ChunkedError::LineEnding),
            },
            // `decode` never steps past the end.
            Done => Done,
        };
        Ok(())
    }

    /// Counts `b` towards the size line's length; the CR or LF ending it does not count.
    fn count_line(&mut self, b: u8) -> Result<(), ChunkedError> {
        if b == b'\r' || b == b'\n' {
            return Ok(());
        }
        self.line_len += 1;
        if self.line_len > Dechunker::MAX_SIZE_LINE_LEN {
            return Err(ChunkedError::SizeLineTooLong);
        }
        Ok(())
    }

    fn count_trailer(&mut self) -> Result<(), ChunkedError> {
        self.trailers_len += 1;
        if self.trailers_len > Dechunker::MAX_TRAILERS_LEN {
            return Err(ChunkedError::TrailersTooLarge);
        }
        Ok(())
    }
}

fn check_trailer_byte(b: u8) -> Result<(), ChunkedError> {
    if (b < 0x20 && b != b'\t') || b == 0x7f {
        Err(ChunkedError::InvalidTrailer)
    } else {
        Ok(())
    }
}

#[inline]
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a body ended, or the error and its absolute offset.
    type Outcome = Result<usize, (ChunkedError, usize)>;

    /// Feeds `pieces` to a new decoder: the payload, and how it ended.
    fn run(pieces: &[&[u8]]) -> (Vec<u8>, Outcome) {
        let (mut d, mut data, mut at) = (Dechunker::new(), Vec::new(), 0);
        for piece in pieces {
            let mut rest = *piece;
            loop {
                let (r, used) = d.decode(rest);
                match r {
                    Err(e) => return (data, Err((e, at + used))),
                    Ok(Chunk::Data(b)) => data.extend_from_slice(b),
                    Ok(Chunk::End) => return (data, Ok(at + used)),
                    Ok(Chunk::NeedMore) => {
                        at += used;
                        break;
                    }
                }
                at += used;
                rest = &rest[used..];
            }
        }
        (data, Err((ChunkedError::InvalidSize, usize::MAX)))
    }

    /// The size line's grammar (RFC 9112 §7.1), whole, split at every byte and byte by byte.
    #[test]
    fn size_line_grammar() {
        use ChunkedError::*;
        let cases: [(&[u8], Outcome); 12] = [
            (b"5;a\r\nhello\r\n0\r\n\r\n", Ok(17)),
            (b"5 ;a=b\r\nhello\r\n0\r\n\r\n", Ok(20)),
            (b"5\t; a = \"q\"\r\nhello\r\n0 ;z\r\n\r\n", Ok(28)),
            (b"5;!\r\nhello\r\n0\r\n\r\n", Ok(17)),
            (b"5 \r\nhello\r\n0\r\n\r\n", Err((WhitespaceAfterSize, 2))),
            (
                b"5\t\t\r\nhello\r\n0\r\n\r\n",
                Err((WhitespaceAfterSize, 3)),
            ),
            (b"5\r\nhello\r\n0 \r\n\r\n", Err((WhitespaceAfterSize, 12))),
            (b"5;\r\nhello\r\n0\r\n\r\n", Err((MissingExtensionName, 2))),
            (
                b"5 ; \r\nhello\r\n0\r\n\r\n",
                Err((MissingExtensionName, 4)),
            ),
            (
                b"5;;a\r\nhello\r\n0\r\n\r\n",
                Err((MissingExtensionName, 2)),
            ),
            (
                b"5;=a\r\nhello\r\n0\r\n\r\n",
                Err((MissingExtensionName, 2)),
            ),
            (b"5 \nhello\r\n0\r\n\r\n", Err((LineEnding, 2))),
        ];
        for (input, want) in cases {
            let name = input.escape_ascii().to_string();
            let (data, got) = run(&[input]);
            assert_eq!(got, want, "{name}");
            if want.is_ok() {
                assert_eq!(data, b"hello", "{name}");
            }
            for k in 0..=input.len() {
                assert_eq!(
                    run(&[&input[..k], &input[k..]]).1,
                    want,
                    "{name} split at {k}"
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run(&bytes).1, want, "{name} byte by byte");
        }
    }
}
