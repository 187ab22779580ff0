//! An event endpoint on this machine: a small HTTP server that keeps every request it gets
//! and answers as the test tells it (a status, or nothing at all while it is "down").

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// What the next requests are answered, in order; then 200.
    answers: Vec<u16>,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver on a free port, answering 200.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut receiver =
            Self { url: format!("http://127.0.0.1:{port}/hooks"), inner: Arc::default(), port, task: None };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: TcpListener) {
        let inner = self.inner.clone();
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inner = inner.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let inner = inner.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let status = {
                            let mut inner = inner.lock().unwrap();
                            inner.received.push(Received { headers: parts.headers, body });
                            if inner.answers.is_empty() { 200 } else { inner.answers.remove(0) }
                        };
                        let answer = hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::new()))
                            .expect("a response");
                        Ok::<_, hyper::Error>(answer)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        }));
    }

    /// Answers the next requests with these statuses (then 200 again).
    pub fn answer(&self, statuses: &[u16]) {
        self.inner.lock().unwrap().answers.extend_from_slice(statuses);
    }

    /// Stops listening: connections are refused until [`Self::up`].
    pub fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits (at most `seconds`) until a request satisfies `found`.
    pub async fn until(&self, seconds: u64, found: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let received = self.received();
            if found(&received) {
                return received;
            }
            assert!(tokio::time::Instant::now() < deadline, "not received in {seconds} s: {} requests", received.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The events received so far (each request's body), by type.
    pub fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.received().iter().map(Received::json).filter(|e| e["type"] == kind).collect()
    }
}
