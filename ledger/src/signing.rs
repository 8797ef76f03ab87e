//! The engine's ed25519 signing key, which signs checkpoints of the journal head.
//!
//! The key lives in `signing.key` (hex, mode 0600) beside the sled directory, not inside sled, so
//! that a copy of the journal alone cannot forge checkpoints. Its public half is also written to
//! the store's `meta` tree, and printed by `gaswallet verify`, so auditors can pin it.

use crate::ids::{Sequence, Timestamp};
use crate::record::checkpoint_message;
use crate::Fault;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::io::Write;
use std::path::Path;

const SIGNING_KEY_FILE: &str = "signing.key";

/// Loads the key from `directory/signing.key`, creating it on first use.
pub fn load_or_create_signing_key(directory: &Path) -> Result<SigningKey, Fault> {
    let path = directory.join(SIGNING_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|error| Fault::Key(format!("{}: {error}", path.display())))?;
            let bytes: [u8; 32] =
                bytes.try_into().map_err(|_| Fault::Key(format!("{}: not 32 bytes", path.display())))?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            write_private_file(&path, hex::encode(key.to_bytes()).as_bytes())?;
            Ok(key)
        }
        Err(error) => Err(Fault::Key(format!("{}: {error}", path.display()))),
    }
}

/// Writes a secret file readable only by its owner, durably (file and directory synced).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), Fault> {
    let io = |error: std::io::Error| Fault::Key(format!("{}: {error}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent).and_then(|directory| directory.sync_all()).map_err(io)?;
    }
    Ok(())
}

pub fn sign_checkpoint(
    key: &SigningKey,
    last_sequence: Sequence,
    head_hash: &[u8; 32],
    timestamp: Timestamp,
) -> [u8; 64] {
    key.sign(&checkpoint_message(last_sequence, head_hash, timestamp)).to_bytes()
}

pub fn checkpoint_signature_is_valid(
    public_key: &VerifyingKey,
    last_sequence: Sequence,
    head_hash: &[u8; 32],
    timestamp: Timestamp,
    signature: &[u8; 64],
) -> bool {
    public_key
        .verify(&checkpoint_message(last_sequence, head_hash, timestamp), &Signature::from_bytes(signature))
        .is_ok()
}
