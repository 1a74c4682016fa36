//! Sealing small values at rest, for every service that keeps data encrypted (S3's data keys,
//! SQS's message bodies): AES-256-GCM (RustCrypto's `aes-gcm`) with a random 96-bit nonce and
//! caller-chosen associated data, and random keys from the operating system's generator.
//! Nothing here is hand-written cryptography.
//!
//! A random nonce keeps one key safe for about 2^32 seals (NIST SP 800-38D, 8.3); callers that
//! seal more under one key rotate it.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};

/// The nonce stored beside each sealed value.
pub const NONCE: usize = 12;
/// The tag each sealed value carries after its ciphertext.
pub const TAG: usize = 16;

/// `N` random bytes from the operating system's generator.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::fill(&mut out).is_err() {
        // The OS generator does not fail on supported systems; never hand out zeros.
        panic!("the operating system's random number generator failed");
    }
    out
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&aes_gcm::Key::<Aes256Gcm>::from(*key))
}

/// Seal `plain` under `key` with `aad` bound to it: a fresh nonce and the ciphertext followed by
/// its tag.
pub fn seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> ([u8; NONCE], Vec<u8>) {
    let n: [u8; NONCE] = random();
    let sealed = cipher(key)
        .encrypt(&Nonce::<Aes256Gcm>::from(n), Payload { msg: plain, aad })
        // Encryption fails only beyond GCM's limit (64 GiB), far above what is sealed here.
        .unwrap_or_default();
    (n, sealed)
}

/// Open what [`seal`] made; `None` when the key, the associated data or the nonce is not the
/// one it was sealed with, or a byte changed.
pub fn open(key: &[u8; 32], aad: &[u8], nonce: &[u8; NONCE], sealed: &[u8]) -> Option<Vec<u8>> {
    cipher(key)
        .decrypt(
            &Nonce::<Aes256Gcm>::from(*nonce),
            Payload { msg: sealed, aad },
        )
        .ok()
}

/// Wrap a 256-bit key under `wrapping`: [`seal`] of its bytes.
pub fn wrap(wrapping: &[u8; 32], aad: &[u8], key: &[u8; 32]) -> ([u8; NONCE], Vec<u8>) {
    seal(wrapping, aad, key)
}

/// Unwrap what [`wrap`] made.
pub fn unwrap(
    wrapping: &[u8; 32],
    aad: &[u8],
    nonce: &[u8; NONCE],
    wrapped: &[u8],
) -> Option<[u8; 32]> {
    open(wrapping, aad, nonce, wrapped)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_then_open_gives_the_value_back(
            key: [u8; 32],
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            plain in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let (n, sealed) = seal(&key, &aad, &plain);
            prop_assert_eq!(sealed.len(), plain.len() + TAG);
            prop_assert_eq!(open(&key, &aad, &n, &sealed), Some(plain.clone()));
        }

        #[test]
        fn any_change_fails_to_open(
            key: [u8; 32],
            plain in proptest::collection::vec(any::<u8>(), 1..256),
            at: usize,
            bit in 0u8..8,
        ) {
            let (n, mut sealed) = seal(&key, b"a", &plain);
            let i = at % sealed.len();
            sealed[i] ^= 1 << bit;
            prop_assert_eq!(open(&key, b"a", &n, &sealed), None);
        }
    }

    #[test]
    fn the_wrong_key_aad_or_nonce_does_not_open() {
        let key = [7u8; 32];
        let (n, sealed) = seal(&key, b"aad", b"secret");
        assert_eq!(open(&[8u8; 32], b"aad", &n, &sealed), None);
        assert_eq!(open(&key, b"other", &n, &sealed), None);
        let mut n2 = n;
        n2[0] ^= 1;
        assert_eq!(open(&key, b"aad", &n2, &sealed), None);
        let data = [9u8; 32];
        let (wn, w) = wrap(&key, b"k", &data);
        assert_eq!(unwrap(&key, b"k", &wn, &w), Some(data));
        // A sealed value that is not 32 bytes long is not a key.
        assert_eq!(unwrap(&key, b"aad", &n, &sealed), None);
    }
}
