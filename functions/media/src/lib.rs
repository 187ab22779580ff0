//! Media both ways (`shared::media` holds the rules and the stores).
//!
//! - `GET …/whatsapp/media/{mediaId}` (JWT, the organization's owner): a file a customer
//!   sent, byte for byte with Meta's `Content-Type` (in AWS a redirect to the bucket's
//!   presigned URL, valid five minutes); fetched now if it was not yet.
//! - `POST …/whatsapp/media?phoneNumberId=` with the file as the body and its
//!   `Content-Type`: uploaded to Meta for that number to send, after Meta's checks (413
//!   `media_too_large`, 415 `unsupported_media_type`, Meta not called) → 201 `{mediaId}`.
//!   `&upload={uploadId}` takes the file from an upload URL instead.
//! - `POST …/whatsapp/media/uploads` `{mimeType, size}`: an upload URL (in AWS the bucket's,
//!   presigned for 15 minutes) for a file larger than a request may carry.
//! - The table's stream ([`on_changes`]): each new message with a file is fetched soon after
//!   Meta's webhook was acknowledged, never inside the acknowledgement.

use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use shared::domain::{MessageEvent, OrganizationId, PhoneNumber, PhoneNumberId};
use shared::lambda::Invocation;
use shared::media::{self, MediaStatus, MediaStore, fetch::fetch};
use shared::routes::Action;
use shared::stream::{Change, batch_response};
use shared::{ApiError, App, Request, Response, crypto, lifecycle};

/// Files fetched at once from one batch of the stream.
const AT_ONCE: usize = 4;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewUpload {
    mime_type: String,
    #[serde(deserialize_with = "shared::http::whole_number::required")]
    size: u64,
}

pub async fn handle(app: &App, store: &dyn MediaStore, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let id: OrganizationId = request.path("organizationId")?;
    match request.route.action {
        Action::GetMedia => {
            let organization = app.owned_organization(&caller, &id).await?;
            let media_id = request.path_params.get("mediaId").cloned().unwrap_or_default();
            serve(app, store, &organization.id, &media_id).await
        }
        Action::UploadMedia => {
            let phone: PhoneNumberId = request.query("phoneNumberId")?;
            let organization = app.owned_organization(&caller, &id).await?;
            upload(app, store, &organization.id, &phone, &request).await
        }
        Action::CreateMediaUpload => {
            let body: NewUpload = request.json()?;
            let organization = app.owned_organization(&caller, &id).await?;
            media::check_upload(&body.mime_type, usize::try_from(body.size).unwrap_or(usize::MAX))?;
            let upload_id = crypto::hex(&crypto::random_bytes::<16>());
            let key = upload_key(&organization.id, &upload_id);
            let url = store.upload_url(&key, &body.mime_type).await?.ok_or_else(|| {
                ApiError::validation("This stack takes files directly: POST the file to …/whatsapp/media.")
            })?;
            Ok(Response::json(
                StatusCode::CREATED,
                &json!({ "success": true, "uploadId": upload_id, "uploadUrl": url, "method": "PUT", "contentType": body.mime_type }),
            ))
        }
        other => Err(ApiError::internal(format!("media does not serve {other:?}"))),
    }
}

/// Where an upload URL's file waits until it is sent on to Meta.
fn upload_key(organization: &OrganizationId, upload_id: &str) -> String {
    format!("uploads/{organization}/{upload_id}")
}

/// A received file: kept bytes, a redirect to them, or fetched now.
async fn serve(
    app: &App,
    store: &dyn MediaStore,
    organization: &OrganizationId,
    media_id: &str,
) -> Result<Response, ApiError> {
    let message = app
        .records
        .media_message(organization, media_id)
        .await?
        .ok_or_else(|| ApiError::not_found("This organization received no file with this id."))?;
    let status = match message.media.as_ref().map(|m| &m.status) {
        Some(MediaStatus::Pending) | None => fetch(app, store, &message).await?,
        Some(status) => status.clone(),
    };
    if let MediaStatus::Failed { reason } = status {
        return Err(ApiError::new(StatusCode::GONE, "media_unavailable", reason)
            .with_action("Ask the customer to send the file again."));
    }
    let key = media::object_key(organization, media_id);
    if let Some(url) = store.download_url(&key).await? {
        return Ok(Response::redirect(&url));
    }
    let file = store.get(&key).await?.ok_or_else(|| {
        ApiError::new(StatusCode::GONE, "media_unavailable", "The file is no longer kept (past the retention).")
    })?;
    let mut response = Response { status: StatusCode::OK, headers: http::HeaderMap::new(), body: file.bytes };
    let content_type =
        HeaderValue::from_str(&file.mime_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    response.headers.insert(header::CONTENT_TYPE, content_type);
    response.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    response.headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Shown by a page, never run by it.
    response.headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    Ok(response)
}

/// A file for a number to send: checked as Meta checks it, then uploaded.
async fn upload(
    app: &App,
    store: &dyn MediaStore,
    organization: &OrganizationId,
    phone_id: &PhoneNumberId,
    request: &Request,
) -> Result<Response, ApiError> {
    let (mime_type, bytes) = match request.query_value("upload") {
        Some(upload_id) if upload_id.len() == 32 && upload_id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let file = store
                .get(&upload_key(organization, upload_id))
                .await?
                .ok_or_else(|| ApiError::not_found("Nothing was uploaded to this upload URL."))?;
            (file.mime_type, file.bytes)
        }
        Some(_) => return Err(ApiError::validation("`upload` must be an uploadId from …/media/uploads")),
        None => {
            let mime_type = request
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| ApiError::validation("Send the file as the body, with its Content-Type."))?;
            (mime_type.to_owned(), request.body.clone())
        }
    };
    let kind = media::check_upload(&mime_type, bytes.len())?;
    let phone = app
        .records
        .phone(organization, phone_id)
        .await?
        .filter(PhoneNumber::is_active)
        .ok_or_else(|| ApiError::not_found("This organization has no such connected phone number."))?;
    let token = lifecycle::phone_token(app, &phone).await?;
    let uploaded = app.meta()?.upload_media(&token, &phone.phone_number_id, &mime_type, &bytes).await;
    drop(token);
    let media_id = lifecycle::answered(app, &phone, uploaded).await?;
    tracing::info!(organization = %organization, kind = kind.as_str(), size = bytes.len(), "media uploaded to Meta");
    Ok(Response::json(
        StatusCode::CREATED,
        &json!({ "success": true, "mediaId": media_id, "type": kind.as_str(), "mimeType": mime_type, "size": bytes.len() }),
    ))
}

/// The new messages of a batch of the table's stream that carry a file not fetched yet.
fn to_fetch(changes: &[Change]) -> Vec<(&Change, MessageEvent)> {
    changes
        .iter()
        .filter(|c| shared::media::STREAM_FILTER.passes(c))
        .filter_map(|c| Some((c, shared::store::records::message_from(c.image()?).ok()?)))
        .filter(|(_, m)| m.media.as_ref().is_some_and(|media| media.status == MediaStatus::Pending))
        .collect()
}

/// Fetches the files of a batch of new messages; the changes to hand over again.
pub async fn on_changes<'c>(app: &App, store: &dyn MediaStore, changes: &'c [Change]) -> Vec<&'c Change> {
    let pending = to_fetch(changes);
    let mut again = Vec::new();
    for batch in pending.chunks(AT_ONCE) {
        let fetched = futures_util::future::join_all(batch.iter().map(|(_, message)| fetch(app, store, message))).await;
        for ((change, _), outcome) in batch.iter().zip(fetched) {
            if let Err(error) = outcome {
                tracing::warn!(%error, "a file could not be fetched now; the stream hands it over again");
                again.push(*change);
            }
        }
    }
    again
}

/// One Lambda invocation that is no API request: a batch of the table's stream.
pub async fn invoked(app: &App, store: &dyn MediaStore, invocation: Invocation) -> Result<serde_json::Value, ApiError> {
    match invocation {
        Invocation::Stream(changes) => Ok(batch_response(&on_changes(app, store, &changes).await)),
        _ => Err(ApiError::internal("media is invoked only by the table's stream")),
    }
}
