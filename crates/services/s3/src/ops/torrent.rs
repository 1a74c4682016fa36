//! GetObjectTorrent: a BitTorrent metainfo file (BEP 3) for an object, as S3 served them: the
//! object's bytes cut into 256 KiB pieces, each piece's SHA-1 in `pieces`, S3's tracker as
//! `announce`. Hashing reads the whole object once, off the async worker, with memory bounded by
//! one piece plus 20 bytes per piece.

use serde_json::{Map, Value};
use sha1::Digest as _;
use snapstack_protocol::body::Body;
use snapstack_protocol::response::Response;

use crate::out::reply_streaming;
use crate::{NAME, Req, S3, S3Error, S3Result, blocking};

/// The piece length S3 used in its torrents.
const PIECE: usize = 256 * 1024;
/// S3 served torrents only of objects under 5 GB.
const MAX_SIZE: u64 = 5 * 1024 * 1024 * 1024;
const TRACKER: &str = "http://tracker.amazonaws.com:6969/announce";

/// Bencode of a byte string: `<len>:<bytes>`.
fn bstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s);
}

/// The metainfo of an object of `size` bytes named `name`, given its piece hashes. Keys of a
/// bencoded dictionary are sorted, as BEP 3 requires.
fn metainfo(name: &str, size: u64, pieces: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pieces.len() + name.len() + 128);
    out.push(b'd');
    bstr(&mut out, b"announce");
    bstr(&mut out, TRACKER.as_bytes());
    bstr(&mut out, b"info");
    out.push(b'd');
    bstr(&mut out, b"length");
    out.extend_from_slice(format!("i{size}e").as_bytes());
    bstr(&mut out, b"name");
    bstr(&mut out, name.as_bytes());
    bstr(&mut out, b"piece length");
    out.extend_from_slice(format!("i{PIECE}e").as_bytes());
    bstr(&mut out, b"pieces");
    bstr(&mut out, pieces);
    out.extend_from_slice(b"ee");
    out
}

/// SHA-1 of each `PIECE`-byte piece of a stream of chunks.
#[derive(Default)]
struct Pieces {
    hasher: sha1::Sha1,
    filled: usize,
    out: Vec<u8>,
}

impl Pieces {
    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (PIECE - self.filled).min(data.len());
            self.hasher.update(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == PIECE {
                self.out
                    .extend_from_slice(&std::mem::take(&mut self.hasher).finalize());
                self.filled = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.out.extend_from_slice(&self.hasher.finalize());
        }
        self.out
    }
}

impl S3 {
    pub(crate) async fn get_object_torrent(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.find_object(r, r.bucket(), r.key(), None)?;
        if o.size >= MAX_SIZE {
            return Err(S3Error::bad(
                "InvalidRequest",
                "Torrents are available only for objects smaller than 5 GB.",
            ));
        }
        let what = format!("object {}/{}", r.bucket(), r.key());
        let mut pieces = Pieces::default();
        if let Some(blob) = o.blob {
            let damaged = |e: snapstack_engine::Error| {
                self.engine.damaged_read(NAME, &what, &e);
                S3Error::internal(format!("The object's stored body is damaged: {e}"))
            };
            let key = self
                .opener(r, o.sealed.as_deref(), crate::sse_c::Target::Object)
                .await?;
            let opened = crate::plain::PlainBody::open(
                &self.engine,
                &blob,
                o.size,
                o.sealed.as_deref(),
                key,
            )
            .map_err(damaged)?;
            blocking(|| -> S3Result<()> {
                for piece in opened.read_all() {
                    pieces.update(&piece.map_err(damaged)?);
                }
                Ok(())
            })?;
        }
        let name = r.key().rsplit('/').next().unwrap_or_default();
        let torrent = metainfo(name, o.size, &pieces.finish());
        reply_streaming(r.operation, &Value::Object(Map::new()), Body::from(torrent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metainfo_file_as_bep_3_writes_it() {
        let t = metainfo("a.txt", 3, &[7u8; 20]);
        let mut expected = b"d8:announce42:http://tracker.amazonaws.com:6969/announce4:infod6:lengthi3e4:name5:a.txt12:piece lengthi262144e6:pieces20:".to_vec();
        expected.extend_from_slice(&[7u8; 20]);
        expected.extend_from_slice(b"ee");
        assert_eq!(t, expected);
    }

    #[test]
    fn pieces_split_at_256_kib_whatever_the_chunks() {
        let data: Vec<u8> = (0..(PIECE * 2 + 5)).map(|i| (i % 251) as u8).collect();
        let mut whole = Pieces::default();
        whole.update(&data);
        let mut split = Pieces::default();
        for c in data.chunks(1000) {
            split.update(c);
        }
        let (a, b) = (whole.finish(), split.finish());
        assert_eq!(a, b);
        assert_eq!(a.len(), 60);
        assert_eq!(&a[..20], &sha1::Sha1::digest(&data[..PIECE])[..]);
        assert_eq!(&a[40..], &sha1::Sha1::digest(&data[PIECE * 2..])[..]);
    }
}
