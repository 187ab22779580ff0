//! Lambda entry point: build the app (configuration, DynamoDB, KMS, Meta client) once per
//! cold start, then serve [`oauth_exchange::handle`] for every invocation.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::from_env().await?.leak();
    shared::lambda::serve(shared::routes::Function::OauthExchange, |request| oauth_exchange::handle(app, request)).await
}
