//! Segment files of the write-ahead log: naming, and the scan that finds the intact frames of one
//! segment, tells a torn tail from damage in the middle, and finds where the next frame goes.

use super::frame::{FRAME_ALIGN, FRAME_HEADER, FrameAt, SEGMENT_HEADER, frame_at};

/// `log/<16 hex digits>.wal`.
pub fn segment_name(seq: u64) -> String {
    format!("{seq:016x}.wal")
}

/// The segment number of a file name, if it is a segment's.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".wal")?;
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The intact frames, in order.
    pub frames: Vec<FrameAt>,
    /// Where the next frame goes: just after the last intact frame.
    pub end: usize,
    /// Damaged frames followed by intact ones: `(offset, why)`. Never a torn tail.
    pub damaged: Vec<(usize, String)>,
    /// A frame that does not verify with nothing intact after it in this segment: a torn write,
    /// unless a later segment holds frames (then it is damage too; the caller decides).
    pub torn_tail: Option<(usize, String)>,
}

/// The next intact frame of `segment` after `from`, with a sequence number above `after`.
fn resync(buf: &[u8], from: usize, segment: u64, after: Option<u64>) -> Option<FrameAt> {
    let seg = segment.to_le_bytes();
    let mut p = from.next_multiple_of(FRAME_ALIGN);
    while p + FRAME_HEADER <= buf.len() {
        if buf[p + 8..p + 16] == seg
            && let Ok(f) = frame_at(buf, p, segment)
            && after.is_none_or(|a| f.seq > a)
        {
            return Some(f);
        }
        p += FRAME_ALIGN;
    }
    None
}

/// Scan a segment's bytes (its header already checked).
pub fn scan(buf: &[u8], segment: u64) -> Scan {
    let mut s = Scan {
        end: SEGMENT_HEADER,
        ..Scan::default()
    };
    let mut pos = SEGMENT_HEADER;
    let mut last: Option<u64> = None;
    while pos + FRAME_HEADER <= buf.len() {
        let found = frame_at(buf, pos, segment).and_then(|f| match last {
            Some(l) if f.seq != l + 1 => Err(format!(
                "frame sequence {} where {} was expected",
                f.seq,
                l + 1
            )),
            _ => Ok(f),
        });
        match found {
            Ok(f) => {
                s.frames.push(f);
                last = Some(f.seq);
                pos += f.len;
                s.end = pos;
            }
            Err(why) => match resync(buf, pos + FRAME_ALIGN, segment, last) {
                Some(f) => {
                    s.damaged.push((pos, why));
                    // Sequence numbers after damage continue from the frame found.
                    last = Some(f.seq - 1);
                    pos = f.offset;
                }
                None => {
                    if why != "no frame (zeros)" {
                        s.torn_tail = Some((pos, why));
                    }
                    break;
                }
            },
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::frame::{encode_frame, segment_header};
    use super::*;

    fn segment(frames: &[&[u8]], size: usize) -> Vec<u8> {
        let mut b = segment_header(1).to_vec();
        for (i, p) in frames.iter().enumerate() {
            b.extend(encode_frame(1, 10 + i as u64, p));
        }
        b.resize(size, 0);
        b
    }

    #[test]
    fn names_roundtrip() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("000000000000002A.wal"), None);
        assert_eq!(parse_segment_name("x.wal"), None);
    }

    #[test]
    fn clean_torn_and_damaged() {
        let b = segment(&[b"aaaa", b"bbbbbbbbb", b"cc"], 4096);
        let s = scan(&b, 1);
        assert_eq!(s.frames.len(), 3);
        assert!(s.damaged.is_empty() && s.torn_tail.is_none());
        // Torn last frame: the tail is ignored, the end is before it.
        let mut t = b.clone();
        let last = s.frames[2];
        t[last.offset + FRAME_HEADER] ^= 1;
        let ts = scan(&t, 1);
        assert_eq!(ts.frames.len(), 2);
        assert!(ts.torn_tail.is_some() && ts.damaged.is_empty());
        assert_eq!(ts.end, last.offset);
        // A flipped byte in the middle frame: named, and the frame after it still found.
        let mut m = b.clone();
        m[s.frames[1].offset + FRAME_HEADER + 2] ^= 1;
        let ms = scan(&m, 1);
        assert_eq!(ms.frames.len(), 2);
        assert_eq!(ms.damaged.len(), 1);
        assert_eq!(ms.damaged[0].0, s.frames[1].offset);
        assert_eq!(ms.end, s.end);
    }
}
