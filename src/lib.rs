//! The local stack: every route of the service on one machine, served by the same handler
//! code the Lambda functions run, with JWT auth emulated as API Gateway's authorizer does it,
//! an embedded store (or DynamoDB/KMS through the AWS environment) and a strict Meta sandbox.

pub mod auth;
pub mod expiry;
pub mod feed;
mod head;
pub mod sandbox;
pub mod server;
pub mod stack;

pub use stack::{RunningStack, Wrap, start, start_wrapped};
