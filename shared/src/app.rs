//! What every handler is given: configuration and the ports, built once per process.

use crate::cipher::Cipher;
use crate::cipher::kms::KmsCipher;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::{Organization, OrganizationId};
use crate::error::ApiError;
use crate::http::Caller;
use crate::meta::{MetaClient, MetaSettings};
use crate::store::dynamo::DynamoStore;
use crate::store::{Records, Store};
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    pub config: Config,
    pub records: Records,
    pub cipher: Arc<dyn Cipher>,
    pub meta: MetaClient,
}

impl App {
    pub fn new(config: Config, store: Arc<dyn Store>, cipher: Arc<dyn Cipher>) -> Self {
        let meta = MetaClient::new(MetaSettings {
            graph_base: config.meta.graph_base(),
            app_id: config.meta.app_id.clone(),
            app_secret: config.meta.app_secret.clone(),
            timeout: config.meta.timeout,
            attempts: config.meta.attempts,
            backoff: Duration::from_millis(200),
        });
        Self { config, records: Records::new(store), cipher, meta }
    }

    /// The AWS wiring: DynamoDB, KMS and (for the app secret) Secrets Manager clients from
    /// the standard AWS environment, built once per cold start.
    pub async fn from_env() -> Result<Self, crate::BoxError> {
        Self::from_source(|name| std::env::var(name).ok()).await
    }

    pub async fn from_source(source: impl Fn(&str) -> Option<String>) -> Result<Self, crate::BoxError> {
        let aws = crate::aws::load(&source).await;
        // META_APP_SECRET is read from Secrets Manager, once, when META_APP_SECRET_ARN names it:
        // the secret then never appears in the template, its parameters or the environment.
        let app_secret = match (source("META_APP_SECRET"), source("META_APP_SECRET_ARN")) {
            (None, Some(arn)) => {
                Some(crate::aws::secret_string(&aws_sdk_secretsmanager::Client::new(&aws), &arn).await?)
            }
            _ => None,
        };
        let config = Config::from_source(|name| match name {
            "META_APP_SECRET" => app_secret.clone().or_else(|| source(name)),
            _ => source(name),
        })?;
        let table = config.table_name.clone().ok_or("TABLE_NAME is required")?;
        let key = config.kms_key_id.clone().ok_or("KMS_KEY_ID is required")?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
        let cipher = KmsCipher::new(aws_sdk_kms::Client::new(&aws), key);
        Ok(Self::new(config, Arc::new(store), Arc::new(cipher)))
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
