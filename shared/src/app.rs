//! What every handler is given: configuration and the ports, built once per process.

use crate::cipher::kms::KmsCipher;
use crate::cipher::{Cipher, NoKey};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::{Organization, OrganizationId, Secret};
use crate::error::ApiError;
use crate::http::Caller;
use crate::meta::{MetaClient, MetaSettings};
use crate::store::dynamo::DynamoStore;
use crate::store::{Records, Store};
use aws_types::SdkConfig;
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    pub config: Config,
    pub records: Records,
    pub cipher: Arc<dyn Cipher>,
    /// Only with the app secret: every Graph call needs it (`appsecret_proof`, the app token).
    meta: Option<MetaClient>,
}

impl App {
    pub fn new(config: Config, store: Arc<dyn Store>, cipher: Arc<dyn Cipher>) -> Self {
        let meta = config.meta.app_secret.clone().map(|secret| meta_client(&config, secret));
        Self { config, records: Records::new(store), cipher, meta }
    }

    /// The Meta Graph client, which a function deployed without the app secret lacks.
    pub fn meta(&self) -> Result<&MetaClient, ApiError> {
        self.meta.as_ref().ok_or_else(|| ApiError::internal("This function is deployed without the Meta app secret."))
    }

    /// The AWS wiring of a Lambda function, from the process environment: configuration and
    /// the DynamoDB table; a function adds KMS and the app secret only if it uses them.
    pub fn lambda() -> Result<LambdaWiring, crate::BoxError> {
        LambdaWiring::from_source(|name| std::env::var(name).ok())
    }

    /// Keeps the app for the life of the process, as Lambda handlers need a `'static` borrow.
    pub fn leak(self) -> &'static App {
        Box::leak(Box::new(self))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// The organization, if the caller owns it: unknown → 404, someone else's → 403.
    pub async fn owned_organization(&self, caller: &Caller, id: &OrganizationId) -> Result<Organization, ApiError> {
        let org =
            self.records.organization(id).await?.ok_or_else(|| ApiError::not_found("No organization with this id."))?;
        if !org.is_owned_by(&caller.user) {
            return Err(ApiError::forbidden("This organization belongs to someone else."));
        }
        Ok(org)
    }

    /// The organization an `/api/integrations/...` call acts on: the one named by the
    /// `ORG_CLAIM` claim, else the only one the caller owns.
    pub async fn caller_organization(&self, caller: &Caller) -> Result<Organization, ApiError> {
        if let Some(claimed) = caller.claims.get(&self.config.org_claim) {
            let id: OrganizationId = claimed.parse().map_err(|_| {
                ApiError::validation(format!("the `{}` claim is not an organization id", self.config.org_claim))
            })?;
            return self.owned_organization(caller, &id).await;
        }
        let mut owned = self.records.organizations_owned_by(&caller.user).await?;
        match owned.len() {
            0 => Err(ApiError::not_found("You do not own an organization yet.")
                .with_action("Create one with POST /api/v1/organizations.")),
            1 => Ok(owned.remove(0)),
            n => Err(ApiError::validation(format!(
                "You own {n} organizations; say which with the `{}` claim or use the /api/v1/organizations/{{organizationId}} routes.",
                self.config.org_claim
            ))),
        }
    }
}

fn meta_client(config: &Config, app_secret: Secret) -> MetaClient {
    MetaClient::new(MetaSettings {
        graph_base: config.meta.graph_base(),
        app_id: config.meta.app_id.clone(),
        app_secret,
        timeout: config.meta.timeout,
        attempts: config.meta.attempts,
        backoff: Duration::from_millis(200),
    })
}

/// What a Lambda function is built with, built once per cold start. Each function asks for
/// what it uses and no more: one that never asks for KMS, the app secret or Meta links no
/// KMS client, Secrets Manager client or HTTP client for Graph (the test of the built
/// functions looks), and is deployed without their permissions (a test ties each
/// function's `main` to its environment and policies in the template).
pub struct LambdaWiring {
    config: Config,
    aws: SdkConfig,
    cipher: Arc<dyn Cipher>,
    meta: Option<MetaClient>,
    app_secret_arn: Option<String>,
    app_secret: Option<String>,
}

impl LambdaWiring {
    pub fn from_source(source: impl Fn(&str) -> Option<String>) -> Result<Self, crate::BoxError> {
        let aws = crate::aws::load(&source)?;
        let given = |name: &str| source(name).filter(|v| !v.trim().is_empty());
        let (app_secret, app_secret_arn) = (given("META_APP_SECRET"), given("META_APP_SECRET_ARN"));
        // The secret joins the configuration only through `with_app_secret`.
        let config = Config::from_source(|name| if name == "META_APP_SECRET" { None } else { source(name) })?;
        Ok(Self { config, aws, cipher: Arc::new(NoKey), meta: None, app_secret_arn, app_secret })
    }

    /// The AWS configuration, for a function's own clients.
    pub fn aws(&self) -> &SdkConfig {
        &self.aws
    }

    /// KMS under `KMS_KEY_ID`, for the functions that seal or open tokens and PINs.
    pub fn with_kms(mut self) -> Result<Self, crate::BoxError> {
        let key = self.config.kms_key_id.clone().ok_or("KMS_KEY_ID is required")?;
        self.cipher = Arc::new(KmsCipher::new(aws_sdk_kms::Client::new(&self.aws), key));
        Ok(self)
    }

    /// The Meta app secret, for the functions that call Meta or check its signatures: read
    /// once from Secrets Manager when `META_APP_SECRET_ARN` names it (so it never appears in
    /// the template, its parameters or the environment), else from `META_APP_SECRET`.
    pub async fn with_app_secret(mut self) -> Result<Self, crate::BoxError> {
        if self.config.meta.app_secret.is_some() {
            return Ok(self);
        }
        let secret = match (self.app_secret.take(), &self.app_secret_arn) {
            (Some(secret), _) => secret,
            (None, Some(arn)) => {
                crate::aws::secret_string(&aws_sdk_secretsmanager::Client::new(&self.aws), arn).await?
            }
            (None, None) => return Err("META_APP_SECRET_ARN (or META_APP_SECRET) is required".into()),
        };
        self.config.meta.app_secret = Some(Secret::new(secret));
        Ok(self)
    }

    /// The Graph client (and the app secret its calls need), for the functions that call Meta.
    pub async fn with_meta(self) -> Result<Self, crate::BoxError> {
        let mut wired = self.with_app_secret().await?;
        let secret = wired.config.meta.app_secret.clone().expect("with_app_secret set it");
        wired.meta = Some(meta_client(&wired.config, secret));
        Ok(wired)
    }

    pub fn build(self) -> Result<App, crate::BoxError> {
        let table = self.config.table_name.clone().ok_or("TABLE_NAME is required")?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.aws), table);
        Ok(App { config: self.config, records: Records::new(Arc::new(store)), cipher: self.cipher, meta: self.meta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::{Purpose, TokenContext};
    use crate::domain::AccessToken;

    fn source(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            let base = [
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("TABLE_NAME", "table"),
                ("META_APP_ID", "123"),
                ("META_REDIRECT_URI", "https://api.example.com/callback"),
                ("FRONTEND_URL", "https://app.example.com/"),
            ];
            extra.iter().chain(base.iter()).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        }
    }

    #[tokio::test]
    async fn a_function_that_asks_for_nothing_has_no_key_no_secret_and_no_meta() {
        // The secret is in the environment, yet only `with_app_secret` takes it.
        let app = LambdaWiring::from_source(source(&[("META_APP_SECRET", "s3cret")])).unwrap().build().unwrap();
        assert!(app.config.meta.app_secret.is_none());
        assert_eq!(app.meta().err().unwrap().status, http::StatusCode::INTERNAL_SERVER_ERROR);
        let organization = "org_1".parse().unwrap();
        let token = AccessToken::new("t".into());
        let sealed = app.cipher.seal(&token, TokenContext::new(&organization, Purpose::PhoneToken)).await;
        assert_eq!(sealed.unwrap_err(), crate::cipher::CipherError::NoKey);
    }

    #[tokio::test]
    async fn asking_for_meta_brings_the_app_secret_and_the_graph_client() {
        let wired = LambdaWiring::from_source(source(&[("META_APP_SECRET", "s3cret")])).unwrap();
        let app = wired.with_meta().await.unwrap().build().unwrap();
        assert_eq!(app.config.meta.app_secret().unwrap().expose(), "s3cret");
        assert!(app.meta().is_ok());
    }

    #[tokio::test]
    async fn what_a_function_asks_for_must_be_configured() {
        let wired = LambdaWiring::from_source(source(&[])).unwrap();
        assert!(wired.with_kms().err().unwrap().to_string().contains("KMS_KEY_ID"));
        let wired = LambdaWiring::from_source(source(&[])).unwrap();
        assert!(wired.with_app_secret().await.err().unwrap().to_string().contains("META_APP_SECRET_ARN"));
        let missing_region = LambdaWiring::from_source(|name| source(&[])(name).filter(|_| name != "AWS_REGION"));
        assert!(missing_region.err().unwrap().to_string().contains("AWS_REGION"));
        let no_credentials = LambdaWiring::from_source(|name| source(&[])(name).filter(|_| !name.starts_with("AWS_A")));
        assert!(no_credentials.err().unwrap().to_string().contains("AWS_ACCESS_KEY_ID"));
    }
}
