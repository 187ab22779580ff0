//! Lambda entry point: build the app (configuration and DynamoDB; this function neither
//! calls Meta nor touches a token, so it has no KMS client and no app secret) once per cold
//! start, then serve [`status::handle`] for every invocation.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::lambda()?.build()?.leak();
    shared::lambda::serve(shared::routes::Function::Status, |request| status::handle(app, request)).await
}
