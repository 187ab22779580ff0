//! The stack's S3 bucket, spoken to directly: `PUT` and `GET` of one object, and presigned
//! `GET` and `PUT` URLs, each signed with SigV4 (the SDK's own signer) with the function's
//! credentials. Four requests do not need the whole S3 SDK, which would double the build.
//! Objects are encrypted by the bucket's default encryption; the lifecycle rule deletes
//! them after the messages' retention.

use super::{MediaStore, StoredFile};
use crate::error::ApiError;
use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use std::time::{Duration, SystemTime};

/// How long a presigned URL may be used: a download the API redirects to, an upload.
const DOWNLOAD_LIFETIME: Duration = Duration::from_secs(300);
const UPLOAD_LIFETIME: Duration = Duration::from_secs(900);

pub struct S3MediaStore {
    http: reqwest::Client,
    credentials: SharedCredentialsProvider,
    region: String,
    /// `https://{bucket}.s3.{region}.amazonaws.com`, or `{endpoint}/{bucket}` for an
    /// emulator (`AWS_ENDPOINT_URL`), which takes path-style requests.
    base: String,
}

impl S3MediaStore {
    pub fn new(config: &aws_types::SdkConfig, bucket: &str) -> Result<Self, crate::BoxError> {
        let credentials = config.credentials_provider().ok_or("AWS credentials are not configured")?;
        let region = config.region().ok_or("AWS_REGION is not set")?.to_string();
        let base = match config.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, credentials, region, base })
    }

    /// Creates the bucket where it does not exist (the local stack on AWS services; in AWS
    /// the template creates it).
    pub async fn ensure_bucket(&self) -> Result<(), ApiError> {
        let (signed, _) = self.signed("PUT", &self.base, &[], SignableBody::Bytes(&[]), None).await?;
        let mut request = self.http.put(&self.base);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| failed("create bucket", e.without_url()))?;
        match response.status() {
            status if status.is_success() || status == http::StatusCode::CONFLICT => Ok(()),
            status => Err(failed("create bucket", status)),
        }
    }

    fn url(&self, key: &str) -> String {
        // Keys are `{organization}/{media id}`: letters, digits, `_`, `-` and one `/`.
        format!("{}/{key}", self.base)
    }

    /// The headers (or, presigned, the query) that sign `method url` with `body`.
    async fn signed(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
        presigned_for: Option<Duration>,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
        let credentials = self.credentials.provide_credentials().await.map_err(|error| {
            tracing::error!(%error, "no AWS credentials to sign an S3 request");
            unavailable()
        })?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        if let Some(lifetime) = presigned_for {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(lifetime);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("the signing parameters are complete")
            .into();
        let request = SignableRequest::new(method, url, headers.iter().copied(), body).map_err(|error| {
            tracing::error!(%error, "an S3 request could not be signed");
            unavailable()
        })?;
        let (instructions, _) = sign(request, &params)
            .map_err(|error| {
                tracing::error!(%error, "an S3 request could not be signed");
                unavailable()
            })?
            .into_parts();
        let (headers, query) = instructions.into_parts();
        Ok((
            headers.into_iter().map(|h| (h.name().to_owned(), h.value().to_owned())).collect(),
            query.into_iter().map(|(k, v)| (k.to_owned(), v.into_owned())).collect(),
        ))
    }

    fn with_query(url: &str, query: &[(String, String)]) -> String {
        let mut url = url::Url::parse(url).expect("an S3 URL parses");
        url.query_pairs_mut().extend_pairs(query);
        url.into()
    }
}

fn unavailable() -> ApiError {
    ApiError::new(http::StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "Media storage is unavailable.")
}

fn failed(what: &str, error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "S3 {what} failed");
    unavailable()
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn put(&self, key: &str, mime_type: &str, bytes: Bytes) -> Result<(), ApiError> {
        let url = self.url(key);
        let headers = [("content-type", mime_type)];
        let (signed, _) = self.signed("PUT", &url, &headers, SignableBody::Bytes(&bytes), None).await?;
        let mut request = self.http.put(&url).header("content-type", mime_type).body(bytes);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| failed("put", e.without_url()))?;
        if !response.status().is_success() {
            return Err(failed("put", response.status()));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<StoredFile>, ApiError> {
        let url = self.url(key);
        let (signed, _) = self.signed("GET", &url, &[], SignableBody::Bytes(&[]), None).await?;
        let mut request = self.http.get(&url);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| failed("get", e.without_url()))?;
        match response.status() {
            status if status.is_success() => {
                let mime_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let bytes = response.bytes().await.map_err(|e| failed("get", e.without_url()))?;
                Ok(Some(StoredFile { mime_type, bytes }))
            }
            http::StatusCode::NOT_FOUND => Ok(None),
            status => Err(failed("get", status)),
        }
    }

    async fn download_url(&self, key: &str) -> Result<Option<String>, ApiError> {
        let url = self.url(key);
        let (_, query) = self.signed("GET", &url, &[], SignableBody::UnsignedPayload, Some(DOWNLOAD_LIFETIME)).await?;
        Ok(Some(Self::with_query(&url, &query)))
    }

    async fn upload_url(&self, key: &str, mime_type: &str) -> Result<Option<String>, ApiError> {
        let url = self.url(key);
        let headers = [("content-type", mime_type)];
        let (_, query) =
            self.signed("PUT", &url, &headers, SignableBody::UnsignedPayload, Some(UPLOAD_LIFETIME)).await?;
        Ok(Some(Self::with_query(&url, &query)))
    }
}
