//! Loads the AWS SDK configuration from a name→value source with the standard variable
//! names (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …), so the local stack and
//! the tests can point the real SDK clients at an emulator without touching the process
//! environment. Anything not given falls back to the SDK's default provider chain.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

pub async fn load(source: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let get = |name: &str| source(name).filter(|v| !v.trim().is_empty());
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = get("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")) {
        loader = loader.region(Region::new(region));
    }
    if let (Some(id), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        loader =
            loader.credentials_provider(Credentials::new(id, secret, get("AWS_SESSION_TOKEN"), None, "configured"));
    }
    loader.load().await
}

/// SDK configuration for an emulator at `endpoint` (moto in the tests), with the dummy
/// credentials and region emulators accept.
pub async fn emulator(endpoint: &str) -> SdkConfig {
    load(|name| match name {
        "AWS_ENDPOINT_URL" => Some(endpoint.to_owned()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        _ => None,
    })
    .await
}

/// The string value of a Secrets Manager secret (a plain string, or the `appSecret` field of
/// a JSON secret).
pub async fn secret_string(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, crate::BoxError> {
    let output =
        client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
            format!("reading the secret {arn}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e))
        })?;
    let value = output.secret_string().ok_or("the secret has no string value")?.trim().to_owned();
    let value = match serde_json::from_str::<serde_json::Value>(&value) {
        Ok(serde_json::Value::Object(fields)) => fields
            .get("appSecret")
            .and_then(|v| v.as_str())
            .ok_or("the JSON secret has no `appSecret` field")?
            .to_owned(),
        _ => value,
    };
    if value.is_empty() || value == PLACEHOLDER {
        return Err("the app secret has not been set yet: put your Meta app secret into the stack's secret".into());
    }
    Ok(value)
}

/// What the template stores in the secret until the deployer sets it.
pub const PLACEHOLDER: &str = "replace-with-your-meta-app-secret";
