//! Lambda entry point: build the app (configuration, DynamoDB, KMS, the Meta client and its
//! app secret) once per cold start, then run what each invocation asks: a health sweep on
//! the schedule, or the coexistence syncs of the phones the table's stream hands over.

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let app = shared::App::lambda()?.with_kms()?.with_meta().await?.build()?.leak();
    shared::lambda::serve_invocations(shared::routes::Function::Health, |invocation| health::invoked(app, invocation))
        .await
}
