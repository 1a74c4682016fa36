//! Chunk signatures of `aws-chunked` uploads (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD` and its
//! `-TRAILER` form), checked when the gateway's policy enforcement (`ENFORCE_IAM=1`) verified
//! the request's seed signature: it hands the chain's verifier over as a request extension
//! ([`ChunkVerifier`]), and the chunked decoder checks each chunk's `chunk-signature` (over the
//! chunk's SHA-256, hashed as the data streams by), the final empty chunk's, and for the
//! `-TRAILER` form the `x-amz-trailer-signature` over the trailing headers. A mismatch stops the
//! upload before any object record is written: S3's `SignatureDoesNotMatch` (403).
//!
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` chunks carry no signatures (the seed signature covers
//! that literal), so no verifier is handed over for them.

use sha2::{Digest, Sha256};
use snapstack_policy::sigv4::{ChunkVerifier, hex};

use crate::S3Error;

/// The message S3 gives a request whose signature does not verify.
pub const MISMATCH: &str = "The request signature we calculated does not match the signature \
                            you provided. Check your key and signing method.";

/// S3's refusal of a chunk whose signature does not verify.
pub fn mismatch() -> S3Error {
    S3Error::new(
        snapstack_protocol::http::StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        MISMATCH,
    )
}

/// The signature chain of one upload, as its chunks stream by.
pub struct ChunkSigning {
    verifier: ChunkVerifier,
    /// The `-TRAILER` form: the trailing headers are signed too.
    trailer: bool,
    hasher: Sha256,
    signature: Option<String>,
    trailer_signature: Option<String>,
    failed: bool,
}

impl ChunkSigning {
    pub fn new(verifier: ChunkVerifier, trailer: bool) -> Self {
        ChunkSigning {
            verifier,
            trailer,
            hasher: Sha256::new(),
            signature: None,
            trailer_signature: None,
            failed: false,
        }
    }

    /// Whether a signature failed to verify (else a decoding error is the body's form).
    pub fn failed(&self) -> bool {
        self.failed
    }

    fn fail(&mut self) -> String {
        self.failed = true;
        MISMATCH.to_string()
    }

    /// A chunk's header line (`<size>;chunk-signature=<sig>`): its signature, required.
    pub fn chunk_start(&mut self, line: &str) -> Result<(), String> {
        let sig = line
            .split(';')
            .skip(1)
            .find_map(|p| p.trim().strip_prefix("chunk-signature="))
            .map(|s| s.trim().to_string());
        let Some(sig) = sig else {
            return Err(self.fail());
        };
        self.signature = Some(sig);
        self.hasher = Sha256::new();
        Ok(())
    }

    /// Data of the current chunk.
    pub fn data(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The current chunk ended (the final, empty one included): its signature must verify.
    pub fn chunk_end(&mut self) -> Result<(), String> {
        let hash = hex(&std::mem::take(&mut self.hasher).finalize());
        let sig = self.signature.take().unwrap_or_default();
        if self.verifier.verify_hash(&hash, &sig) {
            Ok(())
        } else {
            Err(self.fail())
        }
    }

    /// A trailing header line: `true` when it is the trailer signature (kept here, not a
    /// trailer of the object).
    pub fn trailer_line(&mut self, name: &str, value: &str) -> bool {
        if name.eq_ignore_ascii_case("x-amz-trailer-signature") {
            self.trailer_signature = Some(value.to_string());
            true
        } else {
            false
        }
    }

    /// The body ended with `trailers`: for the `-TRAILER` form, their signature must verify.
    pub fn finish(&mut self, trailers: &[(String, String)]) -> Result<(), String> {
        if !self.trailer {
            return Ok(());
        }
        let text: String = trailers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let ok = self
            .trailer_signature
            .as_deref()
            .is_some_and(|sig| self.verifier.verify_trailer(&text, sig));
        if ok { Ok(()) } else { Err(self.fail()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::ChunkedDecoder;
    use snapstack_policy::sigv4::{EMPTY_SHA256, SignedRequest, parse_amz_date, verify};

    /// The S3 API reference's chunked upload example: 65536 + 1024 bytes of `a`, its seed
    /// signature and chunk signatures.
    fn example_verifier() -> ChunkVerifier {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, \
             Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let headers = [
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("Authorization", auth),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ];
        let req = SignedRequest {
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: "",
            headers: (&headers).into(),
            payload_hash: EMPTY_SHA256,
        };
        let now = parse_amz_date("20130524T000000Z").unwrap();
        verify(&req, now, |_| {
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into())
        })
        .unwrap()
        .chunks()
    }

    const SIGS: [&str; 3] = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];

    fn body(sigs: [&str; 3]) -> Vec<u8> {
        let mut out = Vec::new();
        for (len, sig) in [(65536usize, sigs[0]), (1024, sigs[1])] {
            out.extend_from_slice(format!("{len:x};chunk-signature={sig}\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'a', len));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("0;chunk-signature={}\r\n\r\n", sigs[2]).as_bytes());
        out
    }

    fn decode(body: &[u8], split: usize) -> (Result<(), String>, bool, usize) {
        let mut d = ChunkedDecoder::with_signing(ChunkSigning::new(example_verifier(), false));
        let mut n = 0;
        for part in body.chunks(split) {
            if let Err(e) = d.feed(part, &mut |b| n += b.len()) {
                return (Err(e), d.signature_failed(), n);
            }
        }
        (Ok(()), d.is_done(), n)
    }

    #[test]
    fn the_chain_of_aws_example_verifies_however_it_is_split() {
        for split in [1, 7, 4096, 100_000] {
            let (r, done, n) = decode(&body(SIGS), split);
            assert!(r.is_ok() && done, "{split}: {r:?}");
            assert_eq!(n, 66560);
        }
    }

    #[test]
    fn a_wrong_or_missing_chunk_signature_is_refused() {
        let mut bad = SIGS;
        bad[1] = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5490";
        let (r, failed, _) = decode(&body(bad), 1000);
        assert_eq!(r, Err(MISMATCH.to_string()));
        assert!(failed);
        // A bad final chunk too.
        let mut bad = SIGS;
        bad[2] = SIGS[0];
        let (r, failed, _) = decode(&body(bad), 1000);
        assert!(r.is_err() && failed);
        // Chunks reordered: each signature chains on the previous one.
        let mut swapped = SIGS;
        swapped.swap(0, 1);
        assert!(decode(&body(swapped), 1000).0.is_err());
        // Tampered data.
        let mut b = body(SIGS);
        let at = b.len() / 2;
        b[at] = b'b';
        let (r, failed, _) = decode(&b, 1000);
        assert!(r.is_err() && failed);
        // No signature at all on a chunk.
        let unsigned = b"5\r\nhello\r\n0\r\n\r\n";
        let (r, failed, _) = decode(unsigned, 3);
        assert!(r.is_err() && failed);
    }

    #[test]
    fn trailer_signatures_are_required_in_the_trailer_form() {
        let mut s = ChunkSigning::new(example_verifier(), true);
        assert!(s.finish(&[]).is_err());
        assert!(s.failed());
        let mut s = ChunkSigning::new(example_verifier(), false);
        assert!(s.finish(&[]).is_ok());
        assert!(s.trailer_line("x-amz-trailer-signature", "abc"));
        assert!(!s.trailer_line("x-amz-checksum-crc32", "AAAA"));
    }
}
