//! Lambda entry point: build the app (configuration, DynamoDB, KMS, the Meta client and its
//! app secret) and the stack's media bucket once per cold start, then serve the media
//! routes and the table's stream (received files to fetch).

use shared::media::s3::S3MediaStore;
use shared::routes::Function;

#[tokio::main]
async fn main() -> Result<(), shared::BoxError> {
    shared::telemetry::init_lambda();
    let wiring = shared::App::lambda()?.with_kms()?.with_meta().await?;
    let aws = wiring.aws().clone();
    let app = wiring.build()?.leak();
    let bucket = app.config.media_bucket.clone().ok_or("MEDIA_BUCKET is required")?;
    let store: &'static S3MediaStore = Box::leak(Box::new(S3MediaStore::new(&aws, &bucket)?));
    shared::lambda::serve_mixed(
        Function::Media,
        |request| media::handle(app, store, request),
        |invocation| media::invoked(app, store, invocation),
    )
    .await
}
