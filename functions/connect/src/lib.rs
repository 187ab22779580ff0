//! Onboarding links: a customer connects WhatsApp on the service's hosted page, from a link
//! the SaaS sent them, without the SaaS building Embedded Signup's browser side.
//!
//! - The organization's routes (JWT, its owner), in [`links`]: create a link (its URL, with
//!   the token, shown this once; a new link revokes the others), list them, revoke one.
//! - The hosted page, `GET /connect/{token}` ([`page`]): the organization's name, Embedded
//!   Signup in Meta's popup through Meta's JS SDK (`static/signup.js`, which the onboarding
//!   page uses too), then the number's PIN or verification code, then the SaaS's
//!   `successUrl` or `failureUrl`. A link that no longer opens anything gets a 410 page.
//! - The page's routes under `/connect/{token}/…` ([`hosted`]): `session`, `complete`, and a
//!   phone's `register`, `request-code` and `verify-code`, each for the link's organization
//!   only: the link's token authorizes nothing else.

pub mod hosted;
pub mod links;
pub mod page;

use shared::routes::Action;
use shared::{ApiError, App, Request, Response};

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    match request.route.action {
        Action::CreateOnboardingLink | Action::ListOnboardingLinks | Action::RevokeOnboardingLink => {
            links::handle(app, request).await
        }
        Action::LinkPage => page::serve(app, &request).await,
        _ => hosted::handle(app, request).await,
    }
}
