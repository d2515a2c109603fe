//! Encryption at rest: a key ring of AES-256-GCM keys, sealed values bound to where they live,
//! and keyed blind indexes for the few lookups that need equality on encrypted data.
//!
//! Sealed layout: `version | key-id length (u8) | key id | 12-byte nonce | ciphertext and tag`.
//! The associated data names the table, column and row (`customers.sealed:cus_…`), so a sealed
//! value copied to another row fails to open.
//!
//! Version 2 (what [`KeyRing::seal`] writes) encrypts the plaintext compressed with zstd
//! against a fixed dictionary, `sealed-v2.dict`, and binds the version into the associated
//! data. The dictionary holds the keys and common values of the objects Cashbox stores (a
//! Stripe-shaped invoice shrinks about six times), so rows, WAL pages and the bytes encrypted
//! all shrink with it. It is part of the format: it never changes; another dictionary would be
//! another version. Version 1 (plain plaintext) still opens.
//!
//! Compressing before encrypting lets a sealed value's length depend on its content. Reading
//! that needs the database, and exploiting it needs repeated writes next to the secret, which
//! an API caller can read anyway; storage engines that encrypt at rest make the same trade.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Plain plaintext: still opened, no longer written.
const SEALED_PLAIN: u8 = 1;
/// zstd-compressed plaintext against [`DICTIONARY`].
const SEALED_COMPRESSED: u8 = 2;
/// The version-2 dictionary (zstd's format, trained on scrubbed renderings of every kind of
/// object Cashbox seals). Frozen: every version-2 value needs exactly these bytes to open.
const DICTIONARY: &[u8] = include_bytes!("sealed-v2.dict");
/// zstd's fastest level: the dictionary does most of the work on documents this small.
const COMPRESSION_LEVEL: i32 = 1;
/// A sealed value never opens to more than this (a corrupt frame header cannot make us
/// allocate more).
const PLAINTEXT_MAX: u64 = 64 << 20;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
pub const KEY_ID_CHARS_MAX: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyRingError {
    #[error("the encryption key ring is empty")]
    Empty,
    #[error("encryption key entry {0} is not `id:base64-key`")]
    Malformed(usize),
    #[error("encryption key id {0:?} must be 1-32 characters of A-Z, a-z, 0-9, - or _")]
    BadId(String),
    #[error("encryption key {0:?} must be 32 bytes, base64-encoded")]
    BadKey(String),
    #[error("encryption key id {0:?} appears twice")]
    DuplicateId(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value uses key {0:?}, which is not in the key ring")]
    UnknownKey(String),
    #[error("sealed value failed authentication")]
    Tampered,
}

struct RingKey {
    id: String,
    cipher: Aes256Gcm,
    /// Derived from the data key so that a blind index never reveals the encryption key.
    blind_key: Zeroizing<[u8; 32]>,
}

/// Several keys with ids: the first encrypts, every one decrypts.
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Parses `id1:base64key,id2:base64key` (whitespace and newlines also separate entries).
    pub fn parse(spec: &str) -> Result<Self, KeyRingError> {
        let mut keys: Vec<RingKey> = Vec::new();
        let entries = spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty());
        for (n, entry) in entries.enumerate() {
            let (id, b64) = entry
                .split_once(':')
                .ok_or(KeyRingError::Malformed(n + 1))?;
            if id.is_empty()
                || id.len() > KEY_ID_CHARS_MAX
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(KeyRingError::BadId(id.to_string()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyRingError::DuplicateId(id.to_string()));
            }
            let raw = Zeroizing::new(
                BASE64
                    .decode(b64)
                    .map_err(|_| KeyRingError::BadKey(id.to_string()))?,
            );
            if raw.len() != KEY_LEN {
                return Err(KeyRingError::BadKey(id.to_string()));
            }
            keys.push(RingKey::new(id, &raw));
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    /// A fresh random key, as the `id:base64` text that [`KeyRing::parse`] reads.
    pub fn generate_entry(id: &str) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(raw.as_mut()).expect("the operating system's random generator failed");
        Zeroizing::new(format!("{id}:{}", BASE64.encode(raw.as_ref())))
    }

    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Compresses and encrypts under the primary key with a fresh random nonce.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        self.seal_compressed(aad, &Compressed::new(plaintext))
    }

    /// [`KeyRing::seal`] of a plaintext compressed beforehand: one compression for the same
    /// plaintext sealed under several associated data (events about one object).
    pub fn seal_compressed(&self, aad: &str, compressed: &Compressed) -> Vec<u8> {
        self.seal_as(SEALED_COMPRESSED, aad, &compressed.0)
    }

    /// Encrypts `payload` (already in `version`'s form) under the primary key.
    fn seal_as(&self, version: u8, aad: &str, payload: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        // A random 96-bit nonce from the thread's CSPRNG (ChaCha, seeded and reseeded from
        // the OS): a system call per value cost more than the encryption.
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::fill(&mut nonce_bytes);
        let ciphertext = key
            .cipher
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: payload,
                    aad: &bound_aad(aad, version),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + ciphertext.len());
        out.push(version);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (version, opened) = self.decrypt(aad, sealed)?;
        match version {
            SEALED_COMPRESSED => decompress(&opened),
            _ => Ok(opened),
        }
    }

    /// [`KeyRing::open`], with the plaintext's compressed form too (to seal again elsewhere
    /// without compressing it again).
    pub fn open_keeping(
        &self,
        aad: &str,
        sealed: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Compressed), CryptoError> {
        let (version, opened) = self.decrypt(aad, sealed)?;
        match version {
            SEALED_COMPRESSED => Ok((decompress(&opened)?, Compressed(opened))),
            _ => {
                let compressed = Compressed::new(&opened);
                Ok((opened, compressed))
            }
        }
    }

    /// The payload of a sealed value, in its version's form, and the version.
    fn decrypt(&self, aad: &str, sealed: &[u8]) -> Result<(u8, Zeroizing<Vec<u8>>), CryptoError> {
        let (version, key_id, rest) = split_sealed(sealed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce_bytes: [u8; NONCE_LEN] =
            nonce_bytes.try_into().map_err(|_| CryptoError::Malformed)?;
        let aad = bound_aad(aad, version);
        let opened = key
            .cipher
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Tampered)?;
        Ok((version, opened))
    }

    /// Whether a sealed value is already under the primary key (rotation skips those).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        matches!(split_sealed(sealed), Ok((SEALED_COMPRESSED, id, _)) if id == self.keys[0].id)
    }

    /// The blind index of `value` under the primary key: HMAC-SHA256 with a key derived from the
    /// data key, separated by `domain` so equal values in different fields do not match.
    pub fn blind_index(&self, domain: &str, value: &str) -> Vec<u8> {
        self.keys[0].blind_index(domain, value)
    }

    /// A 32-byte key for another purpose (card fingerprints), derived from the primary key and
    /// `label` so that it reveals nothing about the data key.
    pub fn derive_key(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.keys[0].blind_key.as_ref())
                .expect("HMAC takes any key");
        mac.update(b"cashbox/derive/");
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// The blind index under every key of the ring: a lookup matches rows written before a
    /// rotation finished too.
    pub fn blind_indexes(&self, domain: &str, value: &str) -> Vec<Vec<u8>> {
        self.keys
            .iter()
            .map(|k| k.blind_index(domain, value))
            .collect()
    }
}

impl RingKey {
    fn new(id: &str, raw: &[u8]) -> Self {
        let cipher = Aes256Gcm::new_from_slice(raw).expect("key length checked above");
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(raw).expect("HMAC takes any key");
        mac.update(b"cashbox/blind-index/v1");
        let mut blind_key = Zeroizing::new([0u8; 32]);
        blind_key.copy_from_slice(&mac.finalize().into_bytes());
        Self {
            id: id.to_string(),
            cipher,
            blind_key,
        }
    }

    fn blind_index(&self, domain: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.blind_key.as_ref())
            .expect("HMAC takes any key");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// (version, key id, nonce and ciphertext).
fn split_sealed(sealed: &[u8]) -> Result<(u8, &str, &[u8]), CryptoError> {
    let [version, id_len, rest @ ..] = sealed else {
        return Err(CryptoError::Malformed);
    };
    let known = matches!(*version, SEALED_PLAIN | SEALED_COMPRESSED);
    if !known || rest.len() < *id_len as usize + NONCE_LEN + 16 {
        return Err(CryptoError::Malformed);
    }
    let (id, rest) = rest.split_at(*id_len as usize);
    let id = std::str::from_utf8(id).map_err(|_| CryptoError::Malformed)?;
    Ok((*version, id, rest))
}

/// The associated data as encrypted: version 1's is the row's name alone; later versions add
/// the version, so a value cannot be passed off as another version's.
fn bound_aad(aad: &str, version: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(aad.len() + 2);
    out.extend_from_slice(aad.as_bytes());
    if version != SEALED_PLAIN {
        out.extend_from_slice(&[0, version]);
    }
    out
}

/// A plaintext compressed as [`KeyRing::seal`] would, to seal with
/// [`KeyRing::seal_compressed`].
pub struct Compressed(Zeroizing<Vec<u8>>);

impl Compressed {
    pub fn new(plaintext: &[u8]) -> Self {
        Self(Zeroizing::new(compress(plaintext)))
    }

    /// `value` serialized as JSON, compressed. The JSON is written into a buffer the thread
    /// keeps (a new one, grown by doubling, copied a document about twice over), and the bytes
    /// written are zeroed after. (A memset: the buffer lives on, so it is not a dead store;
    /// `Zeroize`'s byte-at-a-time volatile writes cost more than the copies saved.)
    pub fn of_json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        PLAINTEXT.with(|buf| {
            let mut buf = buf.borrow_mut();
            let written = serde_json::to_writer(&mut *buf, value);
            let compressed = written.map(|()| Self::new(&buf));
            buf.fill(0);
            buf.clear();
            compressed
        })
    }

    /// The plaintexts of `parts`, one after the other, without compressing them again: their
    /// frames in turn (zstd decompresses a sequence of frames as the concatenation).
    pub fn concat(parts: &[&Compressed]) -> Self {
        let mut out = Zeroizing::new(Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum()));
        for p in parts {
            out.extend_from_slice(&p.0);
        }
        Self(out)
    }
}

/// The dictionary, prepared once for each direction.
static ENCODER: std::sync::LazyLock<zstd::dict::EncoderDictionary<'static>> =
    std::sync::LazyLock::new(|| zstd::dict::EncoderDictionary::copy(DICTIONARY, COMPRESSION_LEVEL));
static DECODER: std::sync::LazyLock<zstd::dict::DecoderDictionary<'static>> =
    std::sync::LazyLock::new(|| zstd::dict::DecoderDictionary::copy(DICTIONARY));

thread_local! {
    /// Where [`Compressed::of_json`] writes JSON before compressing it; empty and zeroed
    /// between uses.
    static PLAINTEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A compression and a decompression context per thread: making one per value would cost
    /// more than compressing a small document.
    static COMPRESSOR: std::cell::RefCell<zstd::bulk::Compressor<'static>> =
        std::cell::RefCell::new(
            zstd::bulk::Compressor::with_prepared_dictionary(&ENCODER)
                .expect("zstd allocates a compression context"),
        );
    static DECOMPRESSOR: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
        std::cell::RefCell::new(
            zstd::bulk::Decompressor::with_prepared_dictionary(&DECODER)
                .expect("zstd allocates a decompression context"),
        );
}

/// A zstd frame of `plaintext` that records its size, without a checksum (AES-GCM
/// authenticates it) or a dictionary id (the version names the dictionary).
fn compress(plaintext: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        // Set on every use: the parameters persist in the context, and these are cheap.
        c.include_checksum(false)
            .and_then(|()| c.include_dictid(false))
            .and_then(|()| c.include_contentsize(true))
            .and_then(|()| c.compress(plaintext))
            .expect("zstd compression of an in-memory buffer cannot fail")
    })
}

/// The plaintext of a sequence of frames (one, or several joined by [`Compressed::concat`]),
/// each of which records its size.
fn decompress(frames: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if frames.is_empty() {
        return Err(CryptoError::Malformed);
    }
    let mut size: u64 = 0;
    let mut rest = frames;
    while !rest.is_empty() {
        let len = zstd::zstd_safe::find_frame_compressed_size(rest)
            .ok()
            .filter(|n| *n > 0 && *n <= rest.len())
            .ok_or(CryptoError::Malformed)?;
        let (frame, after) = rest.split_at(len);
        let frame_size = zstd::zstd_safe::get_frame_content_size(frame)
            .ok()
            .flatten()
            .ok_or(CryptoError::Malformed)?;
        size = size
            .checked_add(frame_size)
            .filter(|n| *n <= PLAINTEXT_MAX)
            .ok_or(CryptoError::Malformed)?;
        rest = after;
    }
    DECOMPRESSOR.with(|d| {
        let out = d
            .borrow_mut()
            .decompress(frames, size as usize)
            .map_err(|_| CryptoError::Malformed)?;
        if out.len() as u64 != size {
            return Err(CryptoError::Malformed);
        }
        Ok(Zeroizing::new(out))
    })
}

/// SHA-256 of an API key. Keys carry 190 bits of randomness, so a fast hash is enough.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// SHA-256 of arbitrary bytes, for request fingerprints.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Constant-time equality for secrets and their hashes.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> (KeyRing, Vec<String>) {
        let entries: Vec<String> = ids
            .iter()
            .map(|id| KeyRing::generate_entry(id).to_string())
            .collect();
        (KeyRing::parse(&entries.join(",")).unwrap(), entries)
    }

    #[test]
    fn compressed_parts_joined_open_as_their_plaintexts_joined() {
        let (ring, _) = ring(&["k1"]);
        let doc = br#"{"id":"in_1","total":1999}"#;
        let sealed_doc = ring.seal("invoices.sealed:in_1", doc);
        // The document's own compressed form, kept as it is opened, joined with other parts.
        let (plain, kept) = ring
            .open_keeping("invoices.sealed:in_1", &sealed_doc)
            .unwrap();
        assert_eq!(plain.as_slice(), doc);
        let joined = Compressed::concat(&[
            &Compressed::new(br#"{"doc":"#),
            &kept,
            &Compressed::new(b"}"),
        ]);
        let sealed = ring.seal_compressed("events.sealed:evt_1", &joined);
        let opened = ring.open("events.sealed:evt_1", &sealed).unwrap();
        assert_eq!(
            opened.as_slice(),
            br#"{"doc":{"id":"in_1","total":1999}}"#.as_slice()
        );
        // Bound to where it was sealed, like any sealed value.
        assert!(ring.open("events.sealed:evt_2", &sealed).is_err());
        // A payload that is no sequence of whole frames does not open.
        let cut = &joined.0[..joined.0.len() - 1];
        let sealed_cut = ring.seal_as(SEALED_COMPRESSED, "a", cut);
        assert!(matches!(
            ring.open("a", &sealed_cut),
            Err(CryptoError::Malformed)
        ));
        let empty = ring.seal_as(SEALED_COMPRESSED, "a", b"");
        assert!(matches!(
            ring.open("a", &empty),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn json_compressed_in_the_thread_buffer_opens_as_serialized_each_time() {
        let (ring, _) = ring(&["k1"]);
        let long = serde_json::json!({"id": "in_1", "lines": vec!["a line of text"; 200]});
        let short = serde_json::json!({"id": "in_2"});
        // A short value after a long one: nothing of the long one is left in it.
        for value in [&long, &short, &long] {
            let sealed = ring.seal_compressed("a", &Compressed::of_json(value).unwrap());
            let plain = ring.open("a", &sealed).unwrap();
            assert_eq!(plain.as_slice(), serde_json::to_vec(value).unwrap());
        }
        PLAINTEXT.with(|buf| assert!(buf.borrow().is_empty(), "the buffer is emptied"));
    }

    #[test]
    fn seal_then_open_round_trips() {
        let (ring, _) = ring(&["k1"]);
        let sealed = ring.seal("customers.sealed:cus_1", b"jenny@example.com");
        assert!(!sealed.windows(5).any(|w| w == b"jenny"));
        let opened = ring.open("customers.sealed:cus_1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"jenny@example.com");
    }

    #[test]
    fn one_compression_seals_under_several_associated_data() {
        let (ring, _) = ring(&["k1"]);
        let data = Compressed::new(b"{\"object\":{\"id\":\"in_1\"}}");
        let first = ring.seal_compressed("events.sealed:evt_1", &data);
        let second = ring.seal_compressed("events.sealed:evt_2", &data);
        assert_ne!(first, second, "each seal has a nonce of its own");
        for (aad, sealed) in [
            ("events.sealed:evt_1", &first),
            ("events.sealed:evt_2", &second),
        ] {
            let opened = ring.open(aad, sealed).unwrap();
            assert_eq!(opened.as_slice(), b"{\"object\":{\"id\":\"in_1\"}}");
        }
        // Each is bound to its own associated data.
        assert!(ring.open("events.sealed:evt_2", &first).is_err());
    }

    #[test]
    fn version_one_values_still_open_and_rotation_recompresses_them() {
        let (ring, _) = ring(&["k1"]);
        let old = ring.seal_as(SEALED_PLAIN, "events.sealed:evt_1", b"{\"a\":1}");
        let opened = ring.open("events.sealed:evt_1", &old).unwrap();
        assert_eq!(opened.as_slice(), b"{\"a\":1}");
        // Under the primary key but not compressed: rotation rewrites it.
        assert!(!ring.is_current(&old));
        assert!(ring.is_current(&ring.seal("events.sealed:evt_1", b"{}")));
    }

    #[test]
    fn sealed_documents_are_compressed_against_the_dictionary() {
        let (ring, _) = ring(&["k1"]);
        let invoice = serde_json::json!({
            "object": "invoice", "account_country": null, "account_name": "Cashbox",
            "amount_due": 1999, "amount_paid": 1999, "amount_remaining": 0,
            "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
            "currency": "usd", "customer": "cus_0357Qr6NWJMcHkHpZJ7cXY", "status": "paid",
            "status_transitions": {"finalized_at": 1806624000, "marked_uncollectible_at": null,
                "paid_at": 1806624001, "voided_at": null},
            "subtotal": 1999, "subtotal_excluding_tax": 1999, "test_clock": null, "total": 1999,
            "total_discount_amounts": [], "total_excluding_tax": 1999, "total_taxes": [],
        })
        .to_string();
        let sealed = ring.seal("invoices.sealed:in_1", invoice.as_bytes());
        assert!(
            sealed.len() * 3 < invoice.len(),
            "{} bytes sealed from {}",
            sealed.len(),
            invoice.len()
        );
        let opened = ring.open("invoices.sealed:in_1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), invoice.as_bytes());
        // Empty and incompressible plaintexts round-trip too.
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for p in [&b""[..], &noise] {
            assert_eq!(ring.open("a", &ring.seal("a", p)).unwrap().as_slice(), p);
        }
    }

    #[test]
    fn the_version_is_authenticated_and_a_bad_frame_is_malformed() {
        let (ring, _) = ring(&["k1"]);
        let mut sealed = ring.seal("a", b"value");
        sealed[0] = SEALED_PLAIN;
        assert_eq!(ring.open("a", &sealed).unwrap_err(), CryptoError::Tampered);
        sealed[0] = 3;
        assert_eq!(ring.open("a", &sealed).unwrap_err(), CryptoError::Malformed);
        let garbage = ring.seal_as(SEALED_COMPRESSED, "a", b"not a zstd frame");
        assert_eq!(
            ring.open("a", &garbage).unwrap_err(),
            CryptoError::Malformed
        );
    }

    #[test]
    fn same_plaintext_seals_differently() {
        let (ring, _) = ring(&["k1"]);
        assert_ne!(ring.seal("a", b"x"), ring.seal("a", b"x"));
    }

    #[test]
    fn wrong_row_or_tampering_fails() {
        let (ring, _) = ring(&["k1"]);
        let mut sealed = ring.seal("customers.sealed:cus_1", b"secret");
        assert_eq!(
            ring.open("customers.sealed:cus_2", &sealed).unwrap_err(),
            CryptoError::Tampered
        );
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            ring.open("customers.sealed:cus_1", &sealed).unwrap_err(),
            CryptoError::Tampered
        );
        assert_eq!(ring.open("x", &[1, 2]).unwrap_err(), CryptoError::Malformed);
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let (old, old_entries) = ring(&["k1"]);
        let sealed = old.seal("aad", b"value");
        let new_entry = KeyRing::generate_entry("k2").to_string();
        let rotated = KeyRing::parse(&format!("{new_entry},{}", old_entries[0])).unwrap();
        assert_eq!(rotated.primary_id(), "k2");
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.open("aad", &sealed).unwrap().as_slice(), b"value");
        let resealed = rotated.seal("aad", b"value");
        assert!(rotated.is_current(&resealed));
        // A ring without the new key cannot read what the new key sealed.
        assert_eq!(
            old.open("aad", &resealed).unwrap_err(),
            CryptoError::UnknownKey("k2".into())
        );
        // Blind indexes under every key let lookups span a rotation.
        let indexes = rotated.blind_indexes("email", "a@b.c");
        assert_eq!(indexes.len(), 2);
        assert!(indexes.contains(&old.blind_index("email", "a@b.c")));
    }

    #[test]
    fn blind_index_is_keyed_and_domain_separated() {
        let (a, _) = ring(&["k1"]);
        let (b, _) = ring(&["k1"]);
        assert_eq!(a.blind_index("email", "x"), a.blind_index("email", "x"));
        assert_ne!(a.blind_index("email", "x"), b.blind_index("email", "x"));
        assert_ne!(a.blind_index("email", "x"), a.blind_index("phone", "x"));
    }

    #[test]
    fn parse_rejects_bad_rings() {
        assert_eq!(KeyRing::parse(" ").unwrap_err(), KeyRingError::Empty);
        assert_eq!(
            KeyRing::parse("nocolon").unwrap_err(),
            KeyRingError::Malformed(1)
        );
        assert_eq!(
            KeyRing::parse("k1:c2hvcnQ=").unwrap_err(),
            KeyRingError::BadKey("k1".into())
        );
        let e = KeyRing::generate_entry("k1").to_string();
        assert_eq!(
            KeyRing::parse(&format!("{e},{e}")).unwrap_err(),
            KeyRingError::DuplicateId("k1".into())
        );
        assert!(matches!(
            KeyRing::parse(&e.replacen("k1", "bad.id", 1)),
            Err(KeyRingError::BadId(_))
        ));
    }

    #[test]
    fn debug_never_prints_keys() {
        let (ring, entries) = ring(&["k1"]);
        let printed = format!("{ring:?}");
        let key_b64 = entries[0].split_once(':').unwrap().1;
        assert!(!printed.contains(key_b64));
        assert!(printed.contains("k1"));
    }
}
