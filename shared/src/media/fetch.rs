//! Fetching a received file from Meta: `GET /{media-id}` with the number's token gives a
//! URL that lives five minutes; the URL gives the bytes (with the token again; an expired
//! one is asked for anew, once). The bytes must match the webhook's `sha256`; then they are
//! kept and the message says `stored`. A file Meta no longer has, or whose bytes do not
//! match, is `failed` with the reason; a failure on the way (Meta or the store unavailable)
//! leaves it `pending`, to be fetched again.

use super::{MAX_FILE, MediaStatus, MediaStore, object_key};
use crate::App;
use crate::crypto;
use crate::domain::{MessageEvent, PhoneNumber};
use crate::error::ApiError;
use crate::lifecycle;
use crate::meta::MetaError;

/// Fetches the file of a received message and records what became of it.
pub async fn fetch(app: &App, store: &dyn MediaStore, message: &MessageEvent) -> Result<MediaStatus, ApiError> {
    let media = message.media.as_ref().ok_or_else(|| ApiError::internal("a message without media"))?;
    let phone = app.records.phone(&message.organization_id, &message.phone_number_id).await?;
    let status = match phone.filter(PhoneNumber::is_active) {
        None => MediaStatus::Failed {
            reason: "The number is no longer connected, so Meta's file cannot be fetched.".into(),
        },
        Some(phone) => match download(app, &phone, &media.id).await? {
            Downloaded::Gone(reason) => MediaStatus::Failed { reason },
            Downloaded::File(mime_type, bytes) => {
                let digest = crypto::base64_standard(&crypto::sha256(&bytes));
                if digest != media.sha256 {
                    tracing::warn!(media = %media.id, "a file from Meta does not match its digest");
                    MediaStatus::Failed { reason: "Meta's file does not match the digest its webhook gave.".into() }
                } else {
                    let size = bytes.len() as u64;
                    store.put(&object_key(&message.organization_id, &media.id), &mime_type, bytes).await?;
                    MediaStatus::Stored { size }
                }
            }
        },
    };
    app.records.set_media_status(message, &status).await?;
    tracing::info!(organization = %message.organization_id, media = %media.id, status = status.as_str(), "media fetched");
    Ok(status)
}

enum Downloaded {
    File(String, bytes::Bytes),
    /// Meta no longer has it (ids from webhooks live 7 days), or will not give it.
    Gone(String),
}

async fn download(app: &App, phone: &PhoneNumber, media_id: &str) -> Result<Downloaded, ApiError> {
    let token = lifecycle::phone_token(app, phone).await?;
    let meta = app.meta()?;
    // Meta's URL lives five minutes: one that expired on the way is asked for anew, once.
    for _ in 0..2 {
        let info = match meta.media_info(&token, media_id).await {
            Ok(info) => info,
            Err(MetaError::Graph(refusal)) if refusal.code == 100 || refusal.status == 404 => {
                return Ok(Downloaded::Gone(format!("Meta no longer has this file: {}", refusal.reason())));
            }
            Err(other) => return Err(lifecycle::answered(app, phone, Err::<(), _>(other)).await.unwrap_err()),
        };
        let declared = info.file_size.as_ref().and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        if declared.is_some_and(|size| size as usize > MAX_FILE) {
            return Ok(Downloaded::Gone("The file is larger than Meta's 100 MB.".into()));
        }
        match meta.download_media(&token, &info.url, MAX_FILE).await {
            Ok(Some(bytes)) => return Ok(Downloaded::File(info.mime_type, bytes)),
            Ok(None) => continue,
            Err(MetaError::Malformed(reason)) => return Ok(Downloaded::Gone(reason)),
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::meta_unavailable())
}
