//! Lambda entry point, behind the function's Function URL: build the app (configuration,
//! DynamoDB and the app secret that signs Meta's deliveries; no KMS) once per cold start,
//! then serve [`webhook::handle`] for every delivery from Meta.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::lambda()?.with_app_secret().await?.build()?.leak();
    shared::lambda::serve(shared::routes::Function::Webhook, |request| webhook::handle(app, request)).await
}
