//! Key material the operator issues: API keys and MISP licence keys, drawn from the operating
//! system's CSPRNG.
//!
//! MOSIP's own API keys are `SecureRandom.nextInt(1000000)`, at most 6 digits (about 20 bits);
//! the operator issues 256-bit keys instead. Licence keys keep MOSIP's format (50 characters of
//! `[0-9A-Za-z]`, about 297 bits) because IDA stores and compares them as such.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Bytes of randomness in an API key.
pub const API_KEY_BYTES: usize = 32;
/// Characters in an API key (URL-safe base64 of 32 bytes, no padding).
pub const API_KEY_LEN: usize = 43;
/// Characters in a MISP licence key (`mosip.kernel.idgenerator.misp.license-key-length`).
pub const LICENSE_KEY_LEN: usize = 50;
/// The licence key alphabet: `[0-9A-Za-z]`.
pub const LICENSE_KEY_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random bytes at or above this value are discarded so that `byte % 62` is uniform
/// (248 = 4 × 62).
const REJECTION_LIMIT: u8 = 248;

/// Key generation failed. The message never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}; no key was issued, the operator will retry")]
    Random(#[from] getrandom::Error),
}

/// A new API key: 32 bytes from the OS CSPRNG, URL-safe base64 without padding (43 characters
/// of `[A-Za-z0-9_-]`).
pub fn generate_api_key() -> Result<String, KeyError> {
    let mut bytes = [0u8; API_KEY_BYTES];
    getrandom::fill(&mut bytes)?;
    let key = URL_SAFE_NO_PAD.encode(bytes);
    bytes.fill(0);
    Ok(key)
}

/// A new MISP licence key: 50 characters of `[0-9A-Za-z]` from the OS CSPRNG, with rejection
/// sampling so every character is equally likely.
pub fn generate_license_key() -> Result<String, KeyError> {
    let mut key = String::with_capacity(LICENSE_KEY_LEN);
    let mut buf = [0u8; 64];
    while key.len() < LICENSE_KEY_LEN {
        getrandom::fill(&mut buf)?;
        append_uniform(&buf, LICENSE_KEY_LEN, &mut key);
    }
    buf.fill(0);
    Ok(key)
}

/// Appends alphabet characters for the accepted bytes of `random` until `out` holds `len`.
fn append_uniform(random: &[u8], len: usize, out: &mut String) {
    for &b in random {
        if out.len() >= len {
            break;
        }
        if b < REJECTION_LIMIT {
            out.push(char::from(LICENSE_KEY_ALPHABET[usize::from(b) % LICENSE_KEY_ALPHABET.len()]));
        }
    }
}

/// The first 16 hex characters of the SHA-256 of a key: tells keys apart in status and logs
/// without revealing them.
pub fn key_fingerprint(key: &str) -> String {
    let mut hex = hex::encode(Sha256::digest(key.as_bytes()));
    hex.truncate(16);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn api_key_format() {
        let key = generate_api_key().unwrap();
        assert_eq!(key.len(), API_KEY_LEN);
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{key}");
        let decoded = URL_SAFE_NO_PAD.decode(&key).unwrap();
        assert_eq!(decoded.len(), API_KEY_BYTES);
    }

    #[test]
    fn api_keys_are_unique() {
        let keys: HashSet<String> = (0..2000).map(|_| generate_api_key().unwrap()).collect();
        assert_eq!(keys.len(), 2000);
    }

    #[test]
    fn license_key_format() {
        for _ in 0..100 {
            let key = generate_license_key().unwrap();
            assert_eq!(key.len(), LICENSE_KEY_LEN);
            assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
        }
    }

    #[test]
    fn license_keys_are_unique() {
        let keys: HashSet<String> = (0..2000).map(|_| generate_license_key().unwrap()).collect();
        assert_eq!(keys.len(), 2000);
    }

    #[test]
    fn license_alphabet_is_used_uniformly() {
        // 2000 keys × 50 = 100 000 characters over 62 buckets: about 1613 each, standard
        // deviation about 40. Bounds of ±400 and a chi-square limit of 200 (61 degrees of
        // freedom, mean 61, sd 11) fail only on a real bias.
        let mut counts = [0u32; 62];
        let mut total = 0u32;
        for _ in 0..2000 {
            for b in generate_license_key().unwrap().bytes() {
                let index = LICENSE_KEY_ALPHABET.iter().position(|&a| a == b).unwrap();
                counts[index] += 1;
                total += 1;
            }
        }
        assert_eq!(total, 100_000);
        let expected = f64::from(total) / 62.0;
        let mut chi_square = 0.0;
        for (i, &c) in counts.iter().enumerate() {
            assert!((1213..=2013).contains(&c), "character {} drawn {c} times", LICENSE_KEY_ALPHABET[i] as char);
            let d = f64::from(c) - expected;
            chi_square += d * d / expected;
        }
        assert!(chi_square < 200.0, "chi-square {chi_square}");
    }

    #[test]
    fn rejection_sampling_discards_high_bytes() {
        let mut out = String::new();
        append_uniform(&[0, 61, 62, 247, 248, 255, 123], 10, &mut out);
        // 0→'0', 61→'z', 62→'0', 247→247%62=61→'z', 248 and 255 rejected, 123→123%62=61→'z'.
        assert_eq!(out, "0z0zz");
        // Every accepted byte value maps each alphabet character exactly 4 times.
        let all: Vec<u8> = (0..=255).collect();
        let mut out = String::new();
        append_uniform(&all, 1000, &mut out);
        assert_eq!(out.len(), 248);
        for &a in LICENSE_KEY_ALPHABET {
            assert_eq!(out.bytes().filter(|&b| b == a).count(), 4);
        }
        // Stops at the requested length.
        let mut out = String::new();
        append_uniform(&[1; 100], 50, &mut out);
        assert_eq!(out.len(), 50);
    }

    #[test]
    fn fingerprints() {
        let fp = key_fingerprint("abc");
        assert_eq!(fp, "ba7816bf8f01cfea");
        assert_eq!(fp.len(), 16);
        assert_ne!(key_fingerprint("abd"), fp);
    }

    #[test]
    fn error_message_has_no_key_material() {
        let err = KeyError::Random(getrandom::Error::UNSUPPORTED);
        let msg = err.to_string();
        assert!(msg.starts_with("the operating system's random number generator failed"), "{msg}");
    }
}
