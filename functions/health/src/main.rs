//! Lambda entry point: build the app (configuration, DynamoDB, KMS, the Meta client and its
//! app secret) once per cold start, then run one health sweep per scheduled invocation.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::lambda()?.with_kms()?.with_meta().await?.build()?.leak();
    shared::lambda::serve_scheduled(|budget| health::handle(app, budget)).await
}
