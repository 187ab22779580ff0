//! The webhook path, measured: verify + parse + route + store, per single-event delivery
//! and for a 1000-update batch, on the embedded store. `cargo bench -p webhook` prints the
//! figures; under `cargo test` (no `--bench` argument) it runs a few iterations as a smoke
//! test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

struct Figures(Vec<Duration>);

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }
    fn mean(&self) -> Duration {
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }
    fn row(&self, what: &str, per: Option<usize>) {
        let per_item =
            per.map(|n| format!("{:>10.1} µs/event", self.mean().as_secs_f64() * 1e6 / n as f64)).unwrap_or_default();
        println!(
            "{what:<46} n={:<5} mean {:>9.1} µs  p50 {:>9.1} µs  p99 {:>9.1} µs {per_item}",
            self.0.len(),
            self.mean().as_secs_f64() * 1e6,
            self.percentile(0.5).as_secs_f64() * 1e6,
            self.percentile(0.99).as_secs_f64() * 1e6,
        );
    }
}

fn time<T>(n: usize, mut run: impl FnMut(usize) -> T) -> Figures {
    Figures(
        (0..n)
            .map(|i| {
                let start = Instant::now();
                std::hint::black_box(run(i));
                start.elapsed()
            })
            .collect(),
    )
}

async fn time_async<F: std::future::Future>(n: usize, mut run: impl FnMut(usize) -> F) -> Figures {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        std::hint::black_box(run(i).await);
        samples.push(start.elapsed());
    }
    Figures(samples)
}

#[tokio::main]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let scale = |n: usize| if measuring { n } else { 2 };
    let fixture = common::fixture().await;
    let app = &fixture.app;
    let batch = common::inbound_batch(1000, "parse");
    let batch_signature = common::sign(&batch);
    println!("webhook path ({} build, embedded store)", if cfg!(debug_assertions) { "debug" } else { "release" });
    println!("1000-update body: {} KiB", batch.len() / 1024);

    time(scale(200), |_| webhook::signature_matches(common::SECRET.as_bytes(), &batch, Some(&batch_signature)))
        .row("verify signature, 1000-update body", Some(1000));
    time(scale(100), |_| webhook::payload::parse(&batch).unwrap()).row("parse, 1000-update body", Some(1000));

    let single = time_async(scale(500), |i| {
        let body = common::inbound_batch(1, &format!("single{i}"));
        let signature = common::sign(&body);
        webhook::handle(app, common::request(body, Some(signature)))
    })
    .await;
    single.row("deliver 1 event (verify+parse+route+store)", Some(1));

    let batches = time_async(scale(10), |i| {
        let body = common::inbound_batch(1000, &format!("batch{i}"));
        let signature = common::sign(&body);
        webhook::handle(app, common::request(body, Some(signature)))
    })
    .await;
    batches.row("deliver 1000-update batch", Some(1000));

    let body = common::inbound_batch(1000, "batch0");
    let signature = common::sign(&body);
    time_async(scale(10), |_| webhook::handle(app, common::request(body.clone(), Some(signature.clone()))))
        .await
        .row("redeliver 1000-update batch (all duplicates)", Some(1000));

    let response = webhook::handle(app, common::request(body.clone(), Some(signature))).await.unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(outcome["outcome"]["duplicates"], 1000, "a redelivery stores nothing: {outcome}");
}
