//! Request bodies of object uploads: the `aws-chunked` content encoding that current SDKs use to
//! send a checksum as a trailer, and the digests S3 computes (MD5 for the ETag; CRC32, CRC32C,
//! SHA1 and SHA256 checksums).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest as _;

/// The checksum algorithms S3 validates and returns.
pub const ALGORITHMS: [&str; 4] = ["CRC32", "CRC32C", "SHA1", "SHA256"];

/// Header name of an algorithm's checksum, e.g. `x-amz-checksum-crc32`.
pub fn checksum_header(algorithm: &str) -> String {
    format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase())
}

/// Digests of a body, computed as it streams by.
pub struct Digests {
    md5: md5::Md5,
    crc32: Option<crc32fast::Hasher>,
    crc32c: Option<u32>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
    len: u64,
}

impl Digests {
    /// Digests for MD5 and the named checksum algorithms (unknown names are ignored).
    pub fn new(algorithms: &[String]) -> Self {
        let has = |a: &str| algorithms.iter().any(|x| x.eq_ignore_ascii_case(a));
        Digests {
            md5: md5::Md5::new(),
            crc32: has("CRC32").then(crc32fast::Hasher::new),
            crc32c: has("CRC32C").then_some(0),
            sha1: has("SHA1").then(sha1::Sha1::new),
            sha256: has("SHA256").then(sha2::Sha256::new),
            len: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        self.md5.update(data);
        if let Some(h) = &mut self.crc32 {
            h.update(data);
        }
        if let Some(c) = &mut self.crc32c {
            *c = crc32c::crc32c_append(*c, data);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
    }

    /// Bytes seen so far.
    pub fn bytes_seen(&self) -> u64 {
        self.len
    }

    /// The raw MD5 and the base64 checksums by algorithm name.
    pub fn finish(self) -> ([u8; 16], Vec<(String, String)>) {
        let md5: [u8; 16] = self.md5.finalize().into();
        let mut sums = Vec::new();
        if let Some(h) = self.crc32 {
            sums.push(("CRC32".into(), B64.encode(h.finalize().to_be_bytes())));
        }
        if let Some(c) = self.crc32c {
            sums.push(("CRC32C".into(), B64.encode(c.to_be_bytes())));
        }
        if let Some(h) = self.sha1 {
            sums.push(("SHA1".into(), B64.encode(h.finalize())));
        }
        if let Some(h) = self.sha256 {
            sums.push(("SHA256".into(), B64.encode(h.finalize())));
        }
        (md5, sums)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}

const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// A streaming decoder of the `aws-chunked` encoding:
/// `<hex size>[;chunk-signature=...]\r\n<data>\r\n ... 0[;...]\r\n<trailers>\r\n`.
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// The chunk signatures to verify, when the request's seed signature was verified.
    signing: Option<crate::chunksig::ChunkSigning>,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            trailers: Vec::new(),
            signing: None,
        }
    }

    /// A decoder that also verifies every chunk's signature along `signing`'s chain.
    pub fn with_signing(signing: crate::chunksig::ChunkSigning) -> Self {
        ChunkedDecoder {
            signing: Some(signing),
            ..Self::new()
        }
    }

    /// Whether decoding stopped because a chunk signature did not verify.
    pub fn signature_failed(&self) -> bool {
        self.signing.as_ref().is_some_and(|s| s.failed())
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode `input`, passing decoded data to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        while !input.is_empty() {
            match self.state {
                State::Data(0) => self.state = State::DataEnd,
                State::Data(n) => {
                    let take = (n.min(input.len() as u64)) as usize;
                    if let Some(s) = &mut self.signing {
                        s.data(&input[..take]);
                    }
                    out(&input[..take]);
                    input = &input[take..];
                    self.state = State::Data(n - take as u64);
                }
                State::Done => {
                    if input.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                        return Ok(());
                    }
                    return Err("data after the end of an aws-chunked body".into());
                }
                State::Size | State::DataEnd | State::Trailer => {
                    let Some(pos) = input.iter().position(|&b| b == b'\n') else {
                        self.push_line(input)?;
                        return Ok(());
                    };
                    self.push_line(&input[..pos])?;
                    input = &input[pos + 1..];
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.line_done(&line)?;
                }
            }
        }
        if self.state == State::Data(0) {
            self.state = State::DataEnd;
        }
        Ok(())
    }

    fn push_line(&mut self, part: &[u8]) -> Result<(), String> {
        if self.line.len() + part.len() > MAX_LINE {
            return Err("an aws-chunked header line is too long".into());
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(line).map_err(|_| "a chunk header is not text")?;
        match self.state {
            State::DataEnd => {
                if !text.is_empty() {
                    return Err("a chunk is longer than its declared size".into());
                }
                if let Some(s) = &mut self.signing {
                    s.chunk_end()?;
                }
                self.state = State::Size;
            }
            State::Size => {
                let size = text.split(';').next().unwrap_or("").trim();
                let n = u64::from_str_radix(size, 16)
                    .map_err(|_| format!("invalid chunk size {size:?}"))?;
                if let Some(s) = &mut self.signing {
                    s.chunk_start(text)?;
                    if n == 0 {
                        // The final chunk: no data, its signature now.
                        s.chunk_end()?;
                    }
                }
                self.state = if n == 0 {
                    State::Trailer
                } else {
                    State::Data(n)
                };
            }
            State::Trailer => {
                if text.is_empty() {
                    if let Some(s) = &mut self.signing {
                        s.finish(&self.trailers)?;
                    }
                    self.state = State::Done;
                } else {
                    let (k, v) = text
                        .split_once(':')
                        .ok_or_else(|| format!("invalid trailer {text:?}"))?;
                    if let Some(s) = &mut self.signing
                        && s.trailer_line(k.trim(), v.trim())
                    {
                        return Ok(());
                    }
                    if self.trailers.len() >= MAX_TRAILERS {
                        return Err("too many trailers".into());
                    }
                    self.trailers
                        .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(data: &[u8], chunk: usize, trailer: Option<(&str, &str)>) -> Vec<u8> {
        let mut out = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            out.extend_from_slice(format!("{:x};chunk-signature=abc\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        if let Some((k, v)) = trailer {
            out.extend_from_slice(format!("{k}:{v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn crc32_of_hello_matches_s3() {
        let mut d = Digests::new(&["CRC32".into(), "SHA256".into()]);
        d.update(b"hello");
        let (md5, sums) = d.finish();
        assert_eq!(hex(&md5), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(sums[0], ("CRC32".to_string(), "NhCmhg==".to_string()));
    }

    proptest! {
        #[test]
        fn decodes_any_split(data in proptest::collection::vec(any::<u8>(), 0..3000), chunk in 1usize..700, split in 1usize..50) {
            let enc = encode(&data, chunk, Some(("x-amz-checksum-crc32", "AAAA")));
            let mut d = ChunkedDecoder::new();
            let mut got = Vec::new();
            for part in enc.chunks(split) {
                d.feed(part, &mut |b| got.extend_from_slice(b)).unwrap();
            }
            prop_assert!(d.is_done());
            prop_assert_eq!(got, data);
            prop_assert_eq!(&d.trailers, &vec![("x-amz-checksum-crc32".to_string(), "AAAA".to_string())]);
        }

        #[test]
        fn hostile_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = ChunkedDecoder::new();
            let _ = d.feed(&bytes, &mut |_| {});
        }
    }
}
