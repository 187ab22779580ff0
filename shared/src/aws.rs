//! The AWS SDK configuration, from a name→value source with the standard variable names
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_ENDPOINT_URL`). Lambda sets the region and the execution role's credentials in
//! exactly these variables, so the functions need none of `aws-config`'s provider chain
//! (profiles, SSO, STS, instance metadata): it would only add size and start-up time. The
//! local stack and the tests point the same clients at an emulator the same way.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;

pub fn load(source: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, crate::BoxError> {
    let get = |name: &str| source(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or("AWS_REGION is not set")?;
    let (Some(id), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) else {
        return Err("AWS credentials are not set: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
                    AWS_SESSION_TOKEN for temporary ones), as Lambda sets them"
            .into());
    };
    let credentials = Credentials::new(id, secret, get("AWS_SESSION_TOKEN"), None, "environment");
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = get("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

/// SDK configuration for an emulator at `endpoint` (moto in the tests), with the dummy
/// credentials and region emulators accept.
pub fn emulator(endpoint: &str) -> SdkConfig {
    load(|name| match name {
        "AWS_ENDPOINT_URL" => Some(endpoint.to_owned()),
        "AWS_REGION" => Some("us-east-1".into()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing".into()),
        _ => None,
    })
    .expect("the emulator's configuration is complete")
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
