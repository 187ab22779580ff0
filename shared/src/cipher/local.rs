//! AES-256-GCM with a key file under the local data directory, standing in for KMS. The
//! encryption context is bound as associated data, so it is checked exactly as KMS does.

use super::{Cipher, CipherError, TokenContext};
use crate::crypto;
use crate::domain::Ciphertext;
use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use std::path::Path;

/// Leading bytes of every local ciphertext: the format version.
const FORMAT: &[u8; 2] = b"L1";

pub struct LocalCipher {
    key: LessSafeKey,
}

impl LocalCipher {
    pub fn from_key(key: [u8; 32]) -> Self {
        Self { key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte AES-256 key")) }
    }

    /// Loads the key at `path`, creating it (mode 0600) from the CSPRNG on first use; an
    /// existing key file is narrowed to its owner too.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if let Ok(bytes) = std::fs::read(path) {
            crate::private_files::owner_only(path)?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| std::io::Error::other(format!("{} is not a 32-byte key", path.display())))?;
            return Ok(Self::from_key(key));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let key = crypto::random_bytes::<32>();
        write_private(path, &key)?;
        Ok(Self::from_key(key))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

fn aad(context: TokenContext<'_>) -> Vec<u8> {
    context.pairs().iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>().into_bytes()
}

#[async_trait]
impl Cipher for LocalCipher {
    async fn seal_bytes(&self, clear: &[u8], context: TokenContext<'_>) -> Result<Ciphertext, CipherError> {
        let nonce = crypto::random_bytes::<NONCE_LEN>();
        let mut sealed = clear.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(context)), &mut sealed)
            .map_err(|_| CipherError::Unavailable("AES-GCM seal failed".into()))?;
        let mut out = Vec::with_capacity(FORMAT.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(Ciphertext::from_bytes(out))
    }

    async fn open_bytes(&self, ciphertext: &Ciphertext, context: TokenContext<'_>) -> Result<Vec<u8>, CipherError> {
        let bytes = ciphertext.as_bytes();
        let body = bytes.strip_prefix(FORMAT.as_slice()).ok_or(CipherError::Refused)?;
        if body.len() < NONCE_LEN {
            return Err(CipherError::Refused);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Refused)?;
        let mut buffer = sealed.to_vec();
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad(context)), &mut buffer)
            .map_err(|_| CipherError::Refused)?
            .len();
        // The tag follows the clear text in the buffer; keep only the clear text, in place.
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}
