//! Media, as the Cloud API keeps it:
//!
//! - `POST /{phone-number-id}/media` (multipart: `messaging_product`, `type`, `file`) takes a
//!   file of a type Meta accepts, within Meta's size for its kind, and answers its `id`;
//! - `GET /{media-id}` answers `url` (which lives 5 minutes), `mime_type`, `sha256`,
//!   `file_size` (a string) and `id`, for a token granted the number's WABA;
//! - the `url` answers the bytes only with `Authorization: Bearer` and such a token, and 404
//!   once expired, as Meta's download URLs do;
//! - `DELETE /{media-id}` forgets the file.
//!
//! Customers' media (a control sends it) is kept the same way, with the webhook's `sha256`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::super::seed::{self, Phone};
use super::super::state::{self, MediaFile, TokenProblem};
use super::super::{Sandbox, multipart};
use super::{Call, GraphError, Session};

/// How long a media URL `GET /{media-id}` hands out may be used.
const URL_LIFETIME: Duration = Duration::from_secs(300);

/// Meta's media types and sizes, per kind: what the upload takes (and sends). Written here
/// from Meta's documentation on its own, not taken from the service's table: the sandbox
/// must not agree with the service by construction.
pub(in crate::sandbox) const TYPES: [(&str, &[&str], usize); 5] = [
    ("audio", &["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg", "audio/opus"], 16 << 20),
    (
        "document",
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
    ("image", &["image/jpeg", "image/png"], 5 << 20),
    ("sticker", &["image/webp"], 500 << 10),
    ("video", &["video/3gpp", "video/mp4"], 16 << 20),
];

/// The kind and Meta's largest size of a MIME type Meta takes, if it takes it.
pub(in crate::sandbox) fn kind_of(mime: &str) -> Option<(&'static str, usize)> {
    let base = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    TYPES.iter().find(|(_, types, _)| types.contains(&base.as_str())).map(|(kind, _, max)| (*kind, *max))
}

fn all_types() -> String {
    TYPES.iter().flat_map(|(_, types, _)| types.iter().copied()).collect::<Vec<_>>().join(", ")
}

impl Sandbox {
    /// `POST /{phone-number-id}/media`.
    pub(super) fn upload_media(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let parts = call
            .content_type
            .and_then(|content_type| multipart::parse(content_type, call.body))
            .ok_or_else(|| GraphError::invalid_parameter("The upload must be multipart/form-data."))?;
        let field = |name: &str| parts.iter().find(|p| p.name == name);
        GraphError::check_product(field("messaging_product").map(|p| p.text()).as_deref())?;
        let declared = field("type").map(|p| p.text()).ok_or_else(|| GraphError::required("type"))?;
        let file = field("file").ok_or_else(|| GraphError::required("file"))?;
        let mime = file.content_type.clone().unwrap_or_else(|| declared.clone());
        let (kind, max) = kind_of(&mime).ok_or_else(|| {
            GraphError::oauth(
                100,
                format!(
                    "(#100) Param file must be a file with one of the following types: {}. Received file of type '{mime}'.",
                    all_types()
                ),
            )
        })?;
        if file.body.is_empty() {
            return Err(GraphError::invalid_parameter("Param file must not be empty."));
        }
        if file.body.len() > max {
            return Err(GraphError::invalid_parameter(format!(
                "File too large: {} bytes; a {kind} may be at most {max} bytes.",
                file.body.len()
            )));
        }
        let id = self.keep_media(phone, &mime, file.body.clone());
        tracing::info!(phone = phone.id, kind, bytes = file.body.len(), "meta sandbox: media uploaded");
        Ok(json!({ "id": id }))
    }

    /// Keeps a file for a number: its id.
    pub(in crate::sandbox) fn keep_media(&self, phone: &'static Phone, mime: &str, bytes: Bytes) -> String {
        let id = new_media_id();
        let sha256 = STANDARD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref());
        let file =
            MediaFile { phone_number_id: phone.id, mime_type: mime.to_owned(), bytes, sha256, downloads: Vec::new() };
        self.lock().media.insert(id.clone(), file);
        id
    }

    /// `GET|DELETE /{media-id}`, for a token granted the WABA of the number that holds it.
    pub(super) fn media_node(&self, call: &Call<'_>, session: &Session, id: &str) -> Result<Value, GraphError> {
        let mut state = self.lock();
        let holder =
            state.media.get(id).map(|f| f.phone_number_id).ok_or_else(|| GraphError::unsupported(call.method, id))?;
        let phone = seed::phone(holder).expect("a seeded phone");
        if !session.grant.allows(phone.waba_id) {
            return Err(GraphError::unsupported(call.method, id));
        }
        session.require("whatsapp_business_messaging")?;
        if let Some(asked) = call.params.get("phone_number_id")
            && asked != phone.id
        {
            return Err(GraphError::invalid_parameter("Param phone_number_id does not match the media's number."));
        }
        match *call.method {
            Method::GET => {
                let key = state::new_trace_id();
                let lifetime =
                    if std::mem::take(&mut state.expire_next_media_url) { Duration::ZERO } else { URL_LIFETIME };
                state.media.get_mut(id).expect("found above").downloads.push((key.clone(), Instant::now() + lifetime));
                let file = &state.media[id];
                Ok(json!({
                    "messaging_product": "whatsapp",
                    "url": format!("{}/media-download/{id}?key={key}", self.config.public_url),
                    "mime_type": file.mime_type,
                    "sha256": file.sha256,
                    "file_size": file.bytes.len().to_string(),
                    "id": id,
                }))
            }
            Method::DELETE => {
                state.media.remove(id);
                Ok(json!({ "success": true }))
            }
            _ => Err(GraphError::unsupported(call.method, id)),
        }
    }

    /// A media URL: the bytes, with a bearer token granted the number's WABA, while the URL
    /// lives; else what Meta's download host answers.
    pub(in crate::sandbox) fn media_download(
        &self,
        path: &str,
        query: Option<&str>,
        bearer: Option<&str>,
    ) -> Response<Bytes> {
        let plain = |status: StatusCode, text: &'static str| {
            Response::builder().status(status).body(Bytes::from_static(text.as_bytes())).expect("a response")
        };
        let id = path.trim_start_matches("/media-download/");
        let key = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let state = self.lock();
        let Some(file) = state.media.get(id) else { return plain(StatusCode::NOT_FOUND, "Not Found") };
        if !file.downloads.iter().any(|(k, until)| *k == key && Instant::now() < *until) {
            return plain(StatusCode::NOT_FOUND, "Not Found");
        }
        let phone = seed::phone(file.phone_number_id).expect("a seeded phone");
        let allowed = bearer.map(|token| match state.live_token(token) {
            Ok(issued) => issued.grant.allows(phone.waba_id),
            Err(TokenProblem::Unknown | TokenProblem::Expired | TokenProblem::Revoked) => false,
        });
        if allowed != Some(true) {
            return plain(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, file.mime_type.as_str())
            .header(http::header::CONTENT_LENGTH, file.bytes.len())
            .body(file.bytes.clone())
            .expect("a response")
    }
}

/// Meta's media ids: 15 to 16 digits.
fn new_media_id() -> String {
    let digits: String = state::random_digits(15);
    format!("1{digits}")
}
