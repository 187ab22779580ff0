//! The media levers: a customer sends a photo, a video, a voice note, a document or a
//! sticker (`inbound-media`, with a small real file of that type unless the body gives one
//! in base64), and Meta may lose the file or serve it corrupted (`fault`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Refusal, parse};
use crate::sandbox::Sandbox;
use crate::sandbox::graph::media_kind;

/// A 1×1 PNG.
pub const SAMPLE_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// What a customer sends when the lever names only the kind: (MIME type, bytes).
fn sample(kind: &str) -> Option<(&'static str, Vec<u8>)> {
    Some(match kind {
        "image" => ("image/png", STANDARD.decode(SAMPLE_PNG).expect("the sample decodes")),
        "document" => ("application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec()),
        "audio" => ("audio/ogg", [b"OggS\x00\x02".as_slice(), &[0u8; 20], b"OpusHead"].concat()),
        "video" => ("video/mp4", [b"\x00\x00\x00\x18ftypmp42".as_slice(), &[0u8; 12]].concat()),
        "sticker" => ("image/webp", [b"RIFF\x1a\x00\x00\x00WEBPVP8 ".as_slice(), &[0u8; 14]].concat()),
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InboundMedia {
    phone_number_id: String,
    from: String,
    kind: String,
    caption: Option<String>,
    filename: Option<String>,
    /// The file itself, in base64, with its `mimeType`; else a small file of the kind.
    base64: Option<String>,
    mime_type: Option<String>,
    /// `gone`: Meta loses the file as soon as the webhook names it; `corrupt`: it serves
    /// other bytes than the webhook's digest.
    fault: Option<String>,
}

impl Sandbox {
    pub(super) async fn control_inbound_media(&self, body: &[u8]) -> Result<Value, Refusal> {
        let InboundMedia { phone_number_id, from, kind, caption, filename, base64, mime_type, fault } = parse(body)?;
        if fault.as_deref().is_some_and(|f| f != "gone" && f != "corrupt") {
            return Err(Refusal::new(StatusCode::BAD_REQUEST, "`fault` must be gone or corrupt."));
        }
        let (mime, bytes) = match (base64, mime_type) {
            (Some(encoded), Some(mime)) => {
                let bytes = STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "`base64` is not base64."))?;
                (mime, bytes)
            }
            (None, None) => {
                let (mime, bytes) = sample(&kind).ok_or_else(|| {
                    Refusal::new(StatusCode::BAD_REQUEST, "`kind` must be image, video, audio, document or sticker.")
                })?;
                (mime.to_owned(), bytes)
            }
            _ => return Err(Refusal::new(StatusCode::BAD_REQUEST, "Give `base64` and `mimeType` together.")),
        };
        if media_kind(&mime).map(|(k, _)| k) != Some(kind.as_str()) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("`{mime}` is not a type Meta takes for {kind}."),
            ));
        }
        let size = bytes.len();
        let (message_id, media_id, status) = self
            .inbound_media_webhook(
                &phone_number_id,
                &from,
                &kind,
                (&mime, Bytes::from(bytes)),
                (caption.as_deref(), filename.as_deref()),
                fault.as_deref(),
            )
            .await?;
        let sha256 = self.lock().media.get(&media_id).map(|m| m.sha256.clone());
        Ok(json!({
            "success": true, "messageId": message_id, "mediaId": media_id, "mimeType": mime,
            "size": size, "sha256": sha256, "webhookStatus": status,
        }))
    }
}
