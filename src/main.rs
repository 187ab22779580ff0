//! `cargo run`: the whole service on 127.0.0.1:${PORT:-3000}.

use shared::BoxError;

// The webhook path allocates and frees many small strings per event; mimalloc does that
// with far less work than the system allocator (measured by scripts/bench-webhook).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    shared::telemetry::init_local();
    let stack = waba_connect::start(|name| std::env::var(name).ok()).await?;
    let using_sandbox = stack.sandbox.is_some();
    println!();
    println!("  WhatsApp onboarding service — local stack");
    println!("  ─────────────────────────────────────────");
    println!("  Onboarding page   {}/", stack.base_url);
    println!("  API               {}/api/v1/organizations", stack.base_url);
    println!("  Webhook           {}/webhook", stack.base_url);
    println!(
        "  Storage           {}",
        match stack.backend {
            "aws" => "DynamoDB + KMS via the AWS environment".to_owned(),
            _ => format!("embedded, under {}", std::env::var("DATA_DIR").unwrap_or_else(|_| "./.local".into())),
        }
    );
    if using_sandbox {
        println!("  Meta              built-in sandbox at {}/meta-sandbox", stack.base_url);
    } else {
        println!("  Meta              {}", stack.app().config.meta.graph_url);
    }
    if std::env::var("LOCAL_JWT_SECRET").is_err() {
        println!("  JWT secret        {} (LOCAL_JWT_SECRET)", waba_connect::auth::DEFAULT_SECRET);
    }
    println!();
    println!("  Demo user token (sub=demo-user, valid 30 days):");
    println!("  export TOKEN={}", stack.demo_token);
    println!();
    stack.wait().await;
    Ok(())
}
