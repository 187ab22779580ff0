//! Media both ways. A customer's photo, voice note or document arrives as a media id in the
//! webhook; the file itself is fetched from Meta soon after the acknowledgement (never
//! inside it: [`fetch`]), checked against Meta's digest and kept for the messages'
//! retention, in a [`MediaStore`] (files under `DATA_DIR` on one machine, the stack's S3
//! bucket in AWS). A file to send is uploaded to Meta after the checks Meta would make, so
//! a file Meta would refuse never reaches it.

pub mod fetch;
pub mod files;
pub mod s3;

use crate::domain::OrganizationId;
use crate::error::ApiError;
use crate::store::records::attr;
use crate::stream::{ChangeKind, Expected, Filter, Pattern};
use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;

/// New messages with a file still to fetch: the media function's filter.
pub const STREAM_FILTER: Filter = Filter(&[Pattern {
    kinds: &[ChangeKind::Insert],
    entities: &["message"],
    attributes: &[(attr::MEDIA_STATUS, Expected::S("pending"))],
}]);

/// Meta's media types, per kind, and the largest file of each it takes.
const KINDS: [(MediaKind, &[&str], usize); 5] = [
    (MediaKind::Audio, &["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"], 16 << 20),
    (
        MediaKind::Document,
        &[
            "text/plain",
            "application/pdf",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ],
        100 << 20,
    ),
    (MediaKind::Image, &["image/jpeg", "image/png"], 5 << 20),
    // Meta takes an animated sticker up to 500 KB, a static one up to 100 KB; which one a
    // WebP file is, Meta reads from the file.
    (MediaKind::Sticker, &["image/webp"], 500 << 10),
    (MediaKind::Video, &["video/3gpp", "video/mp4"], 16 << 20),
];

/// The largest file any kind takes: what a download or an upload may hold in memory.
pub const MAX_FILE: usize = 100 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Document,
    Image,
    Sticker,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Image => "image",
            MediaKind::Sticker => "sticker",
            MediaKind::Video => "video",
        }
    }

    /// A message type that carries media.
    pub fn of_message(message_type: &str) -> Option<Self> {
        KINDS.iter().map(|(kind, _, _)| *kind).find(|k| k.as_str() == message_type)
    }
}

/// Every MIME type Meta takes, in the order of their kinds.
pub fn mime_types() -> Vec<&'static str> {
    KINDS.iter().flat_map(|(_, types, _)| types.iter().copied()).collect()
}

/// The kind of a MIME type Meta takes (`audio/ogg; codecs=opus` is `audio/ogg`), and its
/// largest size; 415 `unsupported_media_type` for any other type.
pub fn accepted(mime: &str) -> Result<(MediaKind, usize), ApiError> {
    let base = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    KINDS.iter().find(|(_, types, _)| types.contains(&base.as_str())).map(|(kind, _, max)| (*kind, *max)).ok_or_else(
        || {
            let all = mime_types();
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Meta does not take files of type `{base}`."),
            )
            .with_action(format!("Send one of: {}.", all.join(", ")))
        },
    )
}

/// A file Meta would take: its kind, or 413 `media_too_large` / 415.
pub fn check_upload(mime: &str, size: usize) -> Result<MediaKind, ApiError> {
    let (kind, max) = accepted(mime)?;
    if size == 0 {
        return Err(ApiError::validation("The file is empty."));
    }
    if size > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "media_too_large",
            format!("Meta takes a {} of at most {} MB; this one is {size} bytes.", kind.as_str(), max >> 20),
        )
        .with_action(match kind {
            MediaKind::Sticker => "Send a smaller WebP sticker (100 KB static, 500 KB animated).".to_owned(),
            _ => "Send a smaller file, or a link to it.".to_owned(),
        }));
    }
    Ok(kind)
}

/// What became of a received file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStatus {
    /// Not fetched yet.
    Pending,
    /// Kept, byte for byte as Meta's digest says.
    Stored { size: u64 },
    /// Meta no longer has it, or served other bytes than its digest; why.
    Failed { reason: String },
}

impl MediaStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Stored { .. } => "stored",
            MediaStatus::Failed { .. } => "failed",
        }
    }
}

/// A received message's file, as the message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// Meta's media id (lives 7 days at Meta).
    pub id: String,
    pub mime_type: String,
    /// Base64 of the file's SHA-256, as the webhook gives it.
    pub sha256: String,
    pub status: MediaStatus,
}

impl MediaRef {
    pub fn view(&self) -> serde_json::Value {
        let mut view = serde_json::json!({
            "id": self.id,
            "mimeType": self.mime_type,
            "sha256": self.sha256,
            "status": self.status.as_str(),
        });
        match &self.status {
            MediaStatus::Stored { size } => view["size"] = (*size).into(),
            MediaStatus::Failed { reason } => view["reason"] = reason.clone().into(),
            MediaStatus::Pending => {}
        }
        view
    }
}

/// Where a file is kept: under its organization, by Meta's media id.
pub fn object_key(organization: &OrganizationId, media_id: &str) -> String {
    format!("{organization}/{media_id}")
}

/// A media id, as Meta writes them (digits), so it can name a key.
pub fn is_media_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// A file as the store gives it back.
pub struct StoredFile {
    pub mime_type: String,
    pub bytes: Bytes,
}

/// Where files are kept: the stack's S3 bucket, or a directory.
#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn put(&self, key: &str, mime_type: &str, bytes: Bytes) -> Result<(), ApiError>;
    async fn get(&self, key: &str) -> Result<Option<StoredFile>, ApiError>;
    /// A URL that serves the file for a few minutes without credentials, where the store
    /// has such URLs (S3's presigned ones): the answer is then a redirect to it.
    async fn download_url(&self, key: &str) -> Result<Option<String>, ApiError>;
    /// A URL the caller `PUT`s a file to, for files larger than a request may carry, where
    /// the store has them.
    async fn upload_url(&self, key: &str, mime_type: &str) -> Result<Option<String>, ApiError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_meet_metas_types_and_sizes_before_meta_does() {
        assert_eq!(check_upload("image/png", 10).unwrap(), MediaKind::Image);
        assert_eq!(check_upload("audio/ogg; codecs=opus", 10).unwrap(), MediaKind::Audio);
        assert_eq!(check_upload("image/png", (5 << 20) + 1).unwrap_err().code, "media_too_large");
        assert_eq!(check_upload("application/pdf", 100 << 20).unwrap(), MediaKind::Document);
        assert_eq!(check_upload("image/gif", 10).unwrap_err().code, "unsupported_media_type");
        assert_eq!(check_upload("video/quicktime", 10).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(check_upload("image/webp", 600 << 10).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
