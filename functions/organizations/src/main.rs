//! Lambda entry point: build the app (configuration and DynamoDB; this function neither
//! calls Meta nor touches a token, so it has no KMS client and no app secret) once per cold
//! start, then serve [`organizations::handle`] for every invocation.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::lambda()?.build()?.leak();
    shared::lambda::serve(shared::routes::Function::Organizations, |request| organizations::handle(app, request)).await
}
