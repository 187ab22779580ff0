//! Domain types. Each is parsed once at the edge, so a value of the type is valid by
//! construction: handlers never re-check an id's format or a token's secrecy.

mod event;
mod health;
mod ids;
mod message;
mod organization;
mod phone;
mod secret;
mod state;

pub use event::{ConnectionEvent, ConnectionEventView, Source};
pub use health::{Effect, Health, HealthReason, HealthRecord, ReasonView};
pub use ids::{OrganizationId, PhoneNumberId, UserId, WabaId};
pub use message::{
    Customer, DeliveryError, Direction, EventKind, MAX_MESSAGE_ID, MessageEvent, is_message_id, is_user_id,
};
pub use organization::{
    JsonObject, Organization, OrganizationName, OrganizationPatch, OrganizationSummary, optional_text,
};
pub use phone::{
    PhoneLink, PhoneMode, PhoneNumber, PhoneView, REGISTRATION_ATTEMPTS, REGISTRATION_WINDOW_SECONDS, Registration,
    Route, TokenKind, digits_of,
};
pub use secret::{AccessToken, Ciphertext, RegistrationPin, Sealable, Secret};
pub use state::{Authorization, Exchange, OAuthState, StateKey, StateStep, StateToken};
