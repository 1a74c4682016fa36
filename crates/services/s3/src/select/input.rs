//! Reading an object's records for S3 Select: its bytes streamed from the blob (never whole in
//! memory), counted (BytesScanned, BytesProcessed), decompressed (GZIP), and cut into CSV rows
//! or JSON values, each at most [`MAX_RECORD`] long.

use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::plain::PlainBody;

use super::SelectError;
use super::value::Value;

/// The longest record S3 Select reads or writes (1 MiB).
pub const MAX_RECORD: usize = 1 << 20;

pub fn over_max_record() -> SelectError {
    SelectError::new(
        "OverMaxRecordSize",
        "The length of a record in the input or result is greater than maxCharsPerRecord of 1 MB.",
    )
}

fn invalid_encoding() -> SelectError {
    SelectError::new(
        "InvalidTextEncoding",
        "Invalid encoding type. Only UTF-8 encoding is supported.",
    )
}

/// An I/O error while reading: a damaged stored piece (500) or a decompression failure.
pub fn read_error(e: &io::Error, decompressing: bool) -> SelectError {
    if e.kind() == io::ErrorKind::Other && e.to_string() == OVER_MAX {
        return over_max_record();
    }
    if decompressing {
        SelectError::new(
            "TruncatedInput",
            "Object decompression failed. Check that the object is properly compressed using the format specified in the request.",
        )
    } else {
        SelectError::internal(format!("The object's stored body could not be read: {e}"))
    }
}

const OVER_MAX: &str = "record over the maximum size";

/// A blob's bytes `pos..end` as a reader, one verified piece at a time.
pub struct BlobRead {
    blob: Arc<PlainBody>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    off: usize,
}

impl BlobRead {
    pub fn new(blob: Arc<PlainBody>, start: u64, end: u64) -> Self {
        let end = end.min(blob.size());
        BlobRead {
            blob,
            pos: start.min(end),
            end,
            buf: Vec::new(),
            off: 0,
        }
    }
}

impl Read for BlobRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.off >= self.buf.len() {
            if self.pos >= self.end {
                return Ok(0);
            }
            let piece = self
                .blob
                .read_range(self.pos, self.end)
                .next()
                .unwrap_or_else(|| Ok(Vec::new()))
                .map_err(|e| io::Error::other(e.to_string()))?;
            if piece.is_empty() {
                self.pos = self.end;
                return Ok(0);
            }
            self.pos += piece.len() as u64;
            self.buf = piece;
            self.off = 0;
        }
        let n = out.len().min(self.buf.len() - self.off);
        out[..n].copy_from_slice(&self.buf[self.off..self.off + n]);
        self.off += n;
        Ok(n)
    }
}

/// Counts the bytes read through it.
pub struct Counting<R> {
    pub inner: R,
    pub count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Refuses to read more than [`MAX_RECORD`] (plus a buffer's slack) past the mark the reader
/// of records sets at each record: a JSON document's value never grows without bound.
pub struct Budget<R> {
    pub inner: R,
    /// Bytes read since the last record ended (the reader of records sets it to 0).
    pub mark: Arc<AtomicU64>,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.mark.fetch_add(n as u64, Ordering::Relaxed);
        if self.mark.load(Ordering::Relaxed) > (MAX_RECORD + 64 * 1024) as u64 {
            return Err(io::Error::other(OVER_MAX));
        }
        Ok(n)
    }
}

/// UTF-8 characters of a byte stream, with one character of look-ahead and the byte offset of
/// the next one.
pub struct Chars<R> {
    src: R,
    peeked: Option<(char, usize)>,
    pub offset: u64,
    decompressing: bool,
}

impl<R: BufRead> Chars<R> {
    pub fn new(src: R, decompressing: bool) -> Self {
        Chars {
            src,
            peeked: None,
            offset: 0,
            decompressing,
        }
    }

    fn decode(&mut self) -> Result<Option<(char, usize)>, SelectError> {
        let mut bytes = [0u8; 4];
        let first = {
            let buf = self
                .src
                .fill_buf()
                .map_err(|e| read_error(&e, self.decompressing))?;
            let Some(&b) = buf.first() else {
                return Ok(None);
            };
            if b < 0x80 {
                self.src.consume(1);
                return Ok(Some((b as char, 1)));
            }
            b
        };
        let width = match first {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return Err(invalid_encoding()),
        };
        let mut got = 0;
        while got < width {
            let buf = self
                .src
                .fill_buf()
                .map_err(|e| read_error(&e, self.decompressing))?;
            if buf.is_empty() {
                return Err(invalid_encoding());
            }
            let n = (width - got).min(buf.len());
            bytes[got..got + n].copy_from_slice(&buf[..n]);
            self.src.consume(n);
            got += n;
        }
        let c = std::str::from_utf8(&bytes[..width])
            .ok()
            .and_then(|s| s.chars().next())
            .ok_or_else(invalid_encoding)?;
        Ok(Some((c, width)))
    }

    pub fn peek(&mut self) -> Result<Option<char>, SelectError> {
        if self.peeked.is_none() {
            self.peeked = self.decode()?;
        }
        Ok(self.peeked.map(|(c, _)| c))
    }

    pub fn next_char(&mut self) -> Result<Option<char>, SelectError> {
        let next = match self.peeked.take() {
            Some(p) => Some(p),
            None => self.decode()?,
        };
        Ok(next.map(|(c, w)| {
            self.offset += w as u64;
            c
        }))
    }
}

/// CSV input settings (InputSerialization.CSV).
#[derive(Clone, Debug, PartialEq)]
pub struct CsvIn {
    pub field: char,
    pub record: char,
    pub quote: char,
    pub escape: char,
    pub comment: Option<char>,
    pub allow_quoted_record_delimiter: bool,
}

impl Default for CsvIn {
    fn default() -> Self {
        CsvIn {
            field: ',',
            record: '\n',
            quote: '"',
            escape: '"',
            comment: Some('#'),
            allow_quoted_record_delimiter: false,
        }
    }
}

#[derive(PartialEq)]
enum State {
    Start,
    Plain,
    Quoted,
    AfterQuoted,
}

/// CSV rows of a character stream.
pub struct CsvReader<R> {
    pub chars: Chars<R>,
    opts: CsvIn,
}

impl<R: BufRead> CsvReader<R> {
    pub fn new(chars: Chars<R>, opts: CsvIn) -> Self {
        CsvReader { chars, opts }
    }

    /// Skip to just after the next record delimiter (a scan range's partial first record).
    pub fn skip_partial(&mut self) -> Result<(), SelectError> {
        while let Some(c) = self.chars.next_char()? {
            if c == self.opts.record {
                break;
            }
        }
        Ok(())
    }

    /// The next row and the offset it starts at; blank lines and comment lines are skipped.
    pub fn next_row(&mut self) -> Result<Option<(u64, Vec<String>)>, SelectError> {
        loop {
            let start = self.chars.offset;
            let Some(first) = self.chars.peek()? else {
                return Ok(None);
            };
            if Some(first) == self.opts.comment {
                self.skip_partial()?;
                continue;
            }
            let o = &self.opts;
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut state = State::Start;
            let mut any = false;
            loop {
                if self.chars.offset - start > MAX_RECORD as u64 {
                    return Err(over_max_record());
                }
                let Some(c) = self.chars.next_char()? else {
                    if state == State::Quoted {
                        return Err(SelectError::new(
                            "CSVUnescapedQuote",
                            "An unescaped quote was found while parsing the CSV file. To allow quoted record delimiters, set AllowQuotedRecordDelimiter to 'TRUE'.",
                        ));
                    }
                    break;
                };
                any = true;
                match state {
                    State::Quoted => {
                        if c == o.escape && o.escape != o.quote {
                            match self.chars.peek()? {
                                Some(n) if n == o.quote || n == o.escape => {
                                    self.chars.next_char()?;
                                    field.push(n);
                                }
                                _ => field.push(c),
                            }
                        } else if c == o.quote {
                            if o.escape == o.quote && self.chars.peek()? == Some(o.quote) {
                                self.chars.next_char()?;
                                field.push(o.quote);
                            } else {
                                state = State::AfterQuoted;
                            }
                        } else if c == o.record && !o.allow_quoted_record_delimiter {
                            return Err(SelectError::new(
                                "CSVEscapingRecordDelimiter",
                                "A quoted record delimiter was found in the file. To allow quoted record delimiters, set AllowQuotedRecordDelimiter to 'TRUE'.",
                            ));
                        } else {
                            field.push(c);
                        }
                    }
                    _ if c == o.field => {
                        fields.push(std::mem::take(&mut field));
                        state = State::Start;
                    }
                    _ if c == o.record => break,
                    State::Start if c == o.quote => state = State::Quoted,
                    State::AfterQuoted if c == '\r' && o.record == '\n' => {}
                    _ => {
                        field.push(c);
                        if state == State::Start {
                            state = State::Plain;
                        }
                    }
                }
            }
            // A CRLF file read with the default `\n` delimiter.
            if state == State::Plain && o.record == '\n' && field.ends_with('\r') {
                field.pop();
            }
            if !any {
                return Ok(None);
            }
            if fields.is_empty() && field.is_empty() && state != State::AfterQuoted {
                continue;
            }
            fields.push(field);
            return Ok(Some((start, fields)));
        }
    }
}

/// One line of at most [`MAX_RECORD`] bytes (without its `\n`), and the offset it starts at.
pub fn read_line<R: BufRead>(
    src: &mut R,
    offset: &mut u64,
    decompressing: bool,
) -> Result<Option<(u64, Vec<u8>)>, SelectError> {
    let start = *offset;
    let mut line = Vec::new();
    let mut any = false;
    loop {
        let buf = src.fill_buf().map_err(|e| read_error(&e, decompressing))?;
        if buf.is_empty() {
            return Ok(any.then_some((start, line)));
        }
        any = true;
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let end = if done { take - 1 } else { take };
        line.extend_from_slice(&buf[..end]);
        src.consume(take);
        *offset += take as u64;
        if line.len() > MAX_RECORD {
            return Err(over_max_record());
        }
        if done {
            return Ok(Some((start, line)));
        }
    }
}

pub fn json_error(e: &serde_json::Error) -> SelectError {
    if e.is_io() && e.to_string().contains(OVER_MAX) {
        return over_max_record();
    }
    SelectError::new(
        "JSONParsingError",
        "An error occurred while parsing the JSON file. Check the file and try again.",
    )
}

/// One JSON line as a value (`None`: a blank line).
pub fn parse_line(line: &[u8]) -> Result<Option<Value>, SelectError> {
    let text = std::str::from_utf8(line).map_err(|_| invalid_encoding())?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<Value>(text)
        .map(Some)
        .map_err(|e| json_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &str, opts: CsvIn) -> Result<Vec<Vec<String>>, SelectError> {
        let mut r = CsvReader::new(Chars::new(data.as_bytes(), false), opts);
        let mut out = Vec::new();
        while let Some((_, row)) = r.next_row()? {
            out.push(row);
        }
        Ok(out)
    }

    fn v(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn csv_rows() {
        let d = CsvIn::default();
        assert_eq!(
            rows(
                "a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\n\n# note\nlast,",
                d.clone()
            )
            .unwrap(),
            v(&[&["a", "b"], &["x,1", "say \"hi\""], &["last", ""]])
        );
        assert_eq!(
            rows("\"a\nb\",c\n", d.clone()).unwrap_err().code,
            "CSVEscapingRecordDelimiter"
        );
        let allow = CsvIn {
            allow_quoted_record_delimiter: true,
            ..d.clone()
        };
        assert_eq!(rows("\"a\nb\",c\n", allow).unwrap(), v(&[&["a\nb", "c"]]));
        assert_eq!(
            rows("\"open", d.clone()).unwrap_err().code,
            "CSVUnescapedQuote"
        );
        let tabs = CsvIn {
            field: '\t',
            record: ';',
            quote: '\'',
            escape: '\\',
            comment: Some('%'),
            ..d.clone()
        };
        assert_eq!(
            rows("a\tb;%c\td;'it\\'s'\t2;", tabs).unwrap(),
            v(&[&["a", "b"], &["it's", "2"]])
        );
        assert_eq!(rows("é,ü\n", d.clone()).unwrap(), v(&[&["é", "ü"]]));
        let mut bad = b"a,".to_vec();
        bad.push(0xFF);
        let mut r = CsvReader::new(Chars::new(&bad[..], false), d.clone());
        assert_eq!(r.next_row().unwrap_err().code, "InvalidTextEncoding");
        let long = "x".repeat(MAX_RECORD + 10);
        assert_eq!(rows(&long, d).unwrap_err().code, "OverMaxRecordSize");
    }

    #[test]
    fn row_offsets_and_partial_records() {
        let data = "aa,1\nbbb,2\ncc,3\n";
        let mut r = CsvReader::new(Chars::new(&data.as_bytes()[6..], false), CsvIn::default());
        r.skip_partial().unwrap();
        let (at, row) = r.next_row().unwrap().unwrap();
        assert_eq!((at, row), (5, vec!["cc".to_string(), "3".to_string()]));
    }

    #[test]
    fn json_lines() {
        let mut src = "{\"a\":1}\n\n  {\"a\":2}\n".as_bytes();
        let mut off = 0;
        let mut got = Vec::new();
        while let Some((at, line)) = read_line(&mut src, &mut off, false).unwrap() {
            if let Some(v) = parse_line(&line).unwrap() {
                got.push((at, v.to_text()));
            }
        }
        assert_eq!(got, vec![(0, "{\"a\":1}".into()), (9, "{\"a\":2}".into())]);
        assert_eq!(parse_line(b"{oops").unwrap_err().code, "JSONParsingError");
    }
}
