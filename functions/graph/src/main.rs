//! Lambda entry point: build the app (configuration, DynamoDB, KMS, the Meta client and its
//! app secret) once per cold start, then serve [`graph::handle`] for every invocation.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::lambda()?.with_kms()?.with_meta().await?.build()?.leak();
    shared::lambda::serve(shared::routes::Function::Graph, |request| graph::handle(app, request)).await
}
