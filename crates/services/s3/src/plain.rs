//! An object's (or part's) stored body opened to read its plaintext: read as stored for a body
//! written before bodies were sealed, else decrypted segment by segment (`seal.rs`), only the
//! segments a range touches.

use snapstack_engine::{Blob, BlobId, Engine, Error, Result};

use crate::model::Sealed;
use crate::seal::{DataKey, Layout, OpenError, OpenRange, ReadFn, Sealer, TooLong};

fn corrupt(file: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        file: file.into(),
        reason: reason.into(),
    }
}

impl From<TooLong> for Error {
    fn from(_: TooLong) -> Self {
        corrupt("a sealed body", "more than 2^32 segments in one run")
    }
}

pub(crate) struct PlainBody {
    blob: Blob,
    id: BlobId,
    sealed: Option<(DataKey, Layout)>,
}

impl PlainBody {
    /// Open a stored body of `size` plaintext bytes; a sealed one needs its data key.
    pub fn open(
        engine: &Engine,
        id: &BlobId,
        size: u64,
        sealed: Option<&Sealed>,
        key: Option<DataKey>,
    ) -> Result<PlainBody> {
        let blob = engine.open_blob(id)?;
        let what = || format!("sealed body of blob {}", id.index);
        let sealed = match (sealed, key) {
            (None, _) => None,
            (Some(s), Some(k)) => {
                if s.scheme != 1 {
                    return Err(corrupt(what(), format!("unknown scheme {}", s.scheme)));
                }
                let layout = Layout::new(s.segment, &s.runs, size, blob.size())
                    .map_err(|e| corrupt(what(), e))?;
                Some((k, layout))
            }
            (Some(_), None) => return Err(corrupt(what(), "opened without its data key")),
        };
        Ok(PlainBody {
            blob,
            id: *id,
            sealed,
        })
    }

    /// A body stored as sent.
    #[cfg(test)]
    pub fn plain(blob: Blob, id: BlobId) -> PlainBody {
        PlainBody {
            blob,
            id,
            sealed: None,
        }
    }

    pub fn size(&self) -> u64 {
        match &self.sealed {
            Some((_, l)) => l.size(),
            None => self.blob.size(),
        }
    }

    /// The plaintext of `start..end` (clamped to the body), one verified piece at a time.
    pub fn read_range(
        &self,
        start: u64,
        end: u64,
    ) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + '_> {
        let Some((key, layout)) = &self.sealed else {
            return Box::new(self.blob.read_range(start, end));
        };
        let blob = &self.blob;
        let read: ReadFn<'_, Error> = Box::new(move |a, b| {
            Box::new(blob.read_range(a, b)) as Box<dyn Iterator<Item = Result<Vec<u8>>> + '_>
        });
        // Named only when a piece fails: this runs on every read of a sealed body.
        let index = self.id.index;
        Box::new(
            OpenRange::new(key.clone(), layout, start, end, read).map(move |r| {
                r.map_err(|e| match e {
                    OpenError::Read(e) => e,
                    OpenError::Tampered(reason) => {
                        corrupt(format!("sealed body of blob {index}"), reason)
                    }
                })
            }),
        )
    }

    pub fn read_all(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + '_> {
        self.read_range(0, self.size())
    }
}

/// Seal `plain` (pieces of plaintext) into a new blob with `key`: the blob and its run.
pub(crate) fn seal_into(
    engine: &Engine,
    key: &DataKey,
    pieces: impl Iterator<Item = Result<Vec<u8>>>,
    mut each: impl FnMut(&[u8]),
) -> Result<(BlobId, crate::seal::Run)> {
    let mut w = engine.blob_writer();
    let mut sealer = Sealer::new(key.clone());
    for piece in pieces {
        let piece = piece?;
        each(&piece);
        sealer.write(&piece, &mut |b| w.write(b))?;
    }
    let run = sealer.finish(&mut |b| w.write(b))?;
    let (id, _) = w.finish()?;
    Ok((id, run))
}

/// Where an upload's body goes: into a blob, sealed segment by segment with the body's data key
/// (or as sent, for a part of an upload begun before bodies were sealed).
pub(crate) struct Sink {
    w: snapstack_engine::EngineBlobWriter,
    sealer: Option<Sealer>,
}

impl Sink {
    pub fn new(engine: &Engine, key: Option<&DataKey>) -> Sink {
        Sink {
            w: engine.blob_writer(),
            sealer: key.map(|k| Sealer::new(k.clone())),
        }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.sealer {
            Some(s) => {
                let w = &mut self.w;
                s.write(data, &mut |b| w.write(b))
            }
            None => self.w.write(data),
        }
    }

    /// The blob, and the run when sealed.
    pub fn finish(self) -> Result<(BlobId, Option<crate::seal::Run>)> {
        let mut w = self.w;
        let run = match self.sealer {
            Some(s) => Some(s.finish(&mut |b| w.write(b))?),
            None => None,
        };
        let (id, _) = w.finish()?;
        Ok((id, run))
    }
}
