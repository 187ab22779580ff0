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
mod sync;

pub use event::{ConnectionEvent, ConnectionEventView, Source};
pub use health::{Effect, Health, HealthReason, HealthRecord, MAX_REASONS, ReasonView};
pub use ids::{OrganizationId, PhoneNumberId, UserId, WabaId};
pub use message::{
    Contact, Customer, DeliveryError, Direction, EventKind, FROM_BUSINESS_APP, IdentityChange, MAX_MESSAGE_ID,
    MessageEvent, MessageView, is_message_id, is_user_id,
};
pub use organization::{
    JsonObject, Organization, OrganizationName, OrganizationPatch, OrganizationSummary, optional_text,
};
pub use phone::{
    PhoneLink, PhoneMode, PhoneNumber, PhoneView, REGISTRATION_ATTEMPTS, REGISTRATION_WINDOW_SECONDS, Registration,
    Route, TokenKind, digits_of,
};
pub use secret::{AccessToken, Ciphertext, RegistrationPin, Sealable, Secret, VerificationCode};
pub use state::{Authorization, Exchange, OAuthState, StateKey, StateStep, StateToken};
pub use sync::{CoexistenceSync, SYNC_WINDOW_SECONDS, SyncKind, SyncState, SyncView, within_window};
