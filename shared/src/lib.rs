//! The shared core of the service: everything the Lambda functions and the local stack have
//! in common. Handlers live in `functions/<step>/`; this crate holds the domain, the ports
//! (`Store`, `Cipher`) with their adapters, the Meta Graph client, the one configuration
//! loader, the one error type and the one route table.

pub mod app;
pub mod aws;
pub mod cipher;
pub mod clock;
pub mod coexistence;
pub mod config;
pub mod crypto;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod lambda;
pub mod lifecycle;
pub mod links;
pub mod media;
pub mod meta;
pub mod onboarding;
pub mod openapi;
pub mod private_files;
pub mod registration;
pub mod routes;
pub mod store;
pub mod stream;
pub mod sweep;
pub mod telemetry;
#[cfg(test)]
mod testing;

pub use app::App;
pub use error::ApiError;
pub use http::{Request, Response};

/// The error type `main` functions return; never reaches an HTTP caller.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
