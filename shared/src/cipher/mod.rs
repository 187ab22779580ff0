//! The `Cipher` port: seals secrets (access tokens, registration PINs) under an encryption
//! context that names the owning organization and what the ciphertext is for. A ciphertext
//! opened under any other context is refused, so a token copied to another organization's
//! item, or a PIN's ciphertext put where a token belongs, is useless.
//! Adapters: [`kms::KmsCipher`] in AWS, [`local::LocalCipher`] (AES-256-GCM) on one machine.

pub mod kms;
pub mod local;

use crate::domain::{Ciphertext, OrganizationId, Sealable};
use crate::error::ApiError;
use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A token waiting on an OAuth state between callback and save.
    OAuthState,
    /// A connected phone's token.
    PhoneToken,
    /// A phone's two-step verification PIN, set when it was registered for Cloud API.
    RegistrationPin,
    /// An event endpoint's signing secret.
    EndpointSecret,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::OAuthState => "oauth-state-token",
            Purpose::PhoneToken => "whatsapp-phone-token",
            Purpose::RegistrationPin => "registration-pin",
            Purpose::EndpointSecret => "event-endpoint-secret",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TokenContext<'a> {
    pub organization: &'a OrganizationId,
    pub purpose: Purpose,
}

impl<'a> TokenContext<'a> {
    pub fn new(organization: &'a OrganizationId, purpose: Purpose) -> Self {
        Self { organization, purpose }
    }

    /// The context as KMS encryption-context pairs (also the AAD of the local cipher).
    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [("organizationId", self.organization.as_str()), ("purpose", self.purpose.as_str())]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CipherError {
    /// The ciphertext is not valid under this key and context.
    Refused,
    Unavailable(String),
    /// This function was deployed without a key: a fault of the deployment, not the request.
    NoKey,
}

impl std::fmt::Display for CipherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CipherError::Refused => f.write_str("ciphertext refused under this key and context"),
            CipherError::Unavailable(m) => write!(f, "cipher unavailable: {m}"),
            CipherError::NoKey => f.write_str("this function was deployed without an encryption key"),
        }
    }
}

impl std::error::Error for CipherError {}

impl From<CipherError> for ApiError {
    fn from(error: CipherError) -> Self {
        tracing::error!(%error, "token cipher failed");
        match error {
            CipherError::Refused => ApiError::internal("A stored credential could not be read."),
            CipherError::NoKey => ApiError::internal("This function cannot read or store credentials."),
            CipherError::Unavailable(_) => ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Encryption is temporarily unavailable.",
            )
            .with_action("Try again in a moment."),
        }
    }
}

/// The adapters' side: bytes in, bytes out. Callers use the typed [`dyn Cipher::seal`] and
/// [`dyn Cipher::open`], so a clear secret only ever lives in its own unprintable type.
#[async_trait]
pub trait Cipher: Send + Sync {
    async fn seal_bytes(&self, clear: &[u8], context: TokenContext<'_>) -> Result<Ciphertext, CipherError>;
    async fn open_bytes(&self, ciphertext: &Ciphertext, context: TokenContext<'_>) -> Result<Vec<u8>, CipherError>;
}

/// The cipher of a function that neither seals nor opens anything (it is deployed without
/// KMS access, and links no KMS client): any use is refused as a deployment fault.
pub struct NoKey;

#[async_trait]
impl Cipher for NoKey {
    async fn seal_bytes(&self, _: &[u8], _: TokenContext<'_>) -> Result<Ciphertext, CipherError> {
        Err(CipherError::NoKey)
    }
    async fn open_bytes(&self, _: &Ciphertext, _: TokenContext<'_>) -> Result<Vec<u8>, CipherError> {
        Err(CipherError::NoKey)
    }
}

impl<'c> dyn Cipher + 'c {
    pub async fn seal<S: Sealable>(&self, secret: &S, context: TokenContext<'_>) -> Result<Ciphertext, CipherError> {
        self.seal_bytes(secret.expose().as_bytes(), context).await
    }

    pub async fn open<S: Sealable>(
        &self,
        ciphertext: &Ciphertext,
        context: TokenContext<'_>,
    ) -> Result<S, CipherError> {
        let clear = self.open_bytes(ciphertext, context).await?;
        String::from_utf8(clear).map(S::from_clear).map_err(|_| CipherError::Refused)
    }
}
