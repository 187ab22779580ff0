//! What the crate's own unit tests share.

use std::path::PathBuf;

/// A path under the system's temporary directory that no other test or run has used (a
/// random suffix, so nothing an earlier run left can be under it); not yet created.
pub(crate) fn scratch_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}", crate::crypto::hex(&crate::crypto::random_bytes::<6>())))
}
