//! The hosted page's routes, which the link's token authorizes (no JWT), each for the link's
//! organization only:
//!
//! - `GET /connect/{token}/session` → `{organization: {name}, embeddedSignup, state}`:
//!   init-oauth's state, issued to the link (its caller is the link, not a person);
//! - `POST /connect/{token}/complete` `{code, state, embeddedSignup?}` → the one-shot
//!   route's work and answer, with `redirectUrl` (the link's `successUrl`, or its
//!   `failureUrl` with the error's code); the link is then used;
//! - `POST /connect/{token}/phone-numbers/{phoneNumberId}/register` `{pin}`, `…/request-code`
//!   and `…/verify-code`, as the organization's routes; for an hour after the link was used,
//!   so the customer can finish a PIN or a code.
//!
//! A link that is not open answers 410 `link_unknown` | `link_expired` | `link_revoked` |
//! `link_used`.

use oauth_exchange::{Completer, Exchange};
use serde_json::{Value, json};
use shared::domain::{Organization, StateToken, UserId};
use shared::links::{Access, LinkRefusal, LinkToken, OnboardingLink};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response, onboarding};

/// The link a request's token opens, and what it allows now.
pub async fn open(app: &App, request: &Request) -> Result<(OnboardingLink, Access), LinkOrError> {
    let raw = request.path_params.get("token").map(String::as_str).unwrap_or_default();
    let token: LinkToken = raw.parse().map_err(|_| LinkOrError::Refused(LinkRefusal::Unknown))?;
    let link = app.records.link_by_token(&token.hash()).await?.ok_or(LinkOrError::Refused(LinkRefusal::Unknown))?;
    let access = link.access(app.now()).map_err(LinkOrError::Refused)?;
    Ok((link, access))
}

/// Why a link opened nothing: what it is now, or a failure on the way.
pub enum LinkOrError {
    Refused(LinkRefusal),
    Failed(ApiError),
}

impl From<ApiError> for LinkOrError {
    fn from(error: ApiError) -> Self {
        LinkOrError::Failed(error)
    }
}

impl From<LinkOrError> for ApiError {
    fn from(error: LinkOrError) -> Self {
        match error {
            LinkOrError::Refused(refusal) => refusal.into(),
            LinkOrError::Failed(error) => error,
        }
    }
}

/// Who the link is, to the OAuth state it is issued: the state's caller, which no bearer
/// token can claim (a JWT's `sub` is checked against it, and this one names a link).
fn link_caller(link: &OnboardingLink) -> UserId {
    format!("onboarding-link:{}", link.id).parse().expect("a link id is a valid caller")
}

pub async fn organization_of(app: &App, link: &OnboardingLink) -> Result<Organization, ApiError> {
    app.records.organization(&link.organization_id).await?.ok_or_else(|| ApiError::from(LinkRefusal::Unknown))
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let (link, access) = open(app, &request).await?;
    match (request.route.action, access) {
        // Only an active link starts or completes a connection.
        (Action::LinkSession | Action::LinkComplete, Access::Finishing) => Err(LinkRefusal::Used.into()),
        (Action::LinkSession, Access::Open) => session(app, &link).await,
        (Action::LinkComplete, Access::Open) => complete(app, &link, &request).await,
        (Action::LinkRegisterPhone | Action::LinkRequestVerificationCode | Action::LinkVerifyCode, _) => {
            let answer = register::for_organization(app, &link.organization_id, &request).await?;
            Ok(with_redirect_once_registered(answer, &link))
        }
        (other, _) => Err(ApiError::internal(format!("the hosted page does not serve {other:?}"))),
    }
}

async fn session(app: &App, link: &OnboardingLink) -> Result<Response, ApiError> {
    let organization = organization_of(app, link).await?;
    let feature = onboarding::feature_type(link.feature_type.as_deref())?;
    let issued = init_oauth::issue(app, organization.id.clone(), link_caller(link), feature).await?;
    let embedded_signup = issued.get("embeddedSignup").cloned().ok_or_else(|| {
        ApiError::internal("Embedded Signup is not configured (META_CONFIG_ID), and the hosted page needs it.")
    })?;
    Ok(Response::ok(&json!({
        "success": true,
        "organization": { "name": organization.name.as_str() },
        "embeddedSignup": embedded_signup,
        "state": issued["state"],
        "expiresAt": issued["expiresAt"],
    })))
}

async fn complete(app: &App, link: &OnboardingLink, request: &Request) -> Result<Response, ApiError> {
    let outcome = async {
        let body: Exchange = request.json()?;
        let token: StateToken = body.state.parse().map_err(|_| ApiError::invalid_state())?;
        let state = onboarding::caller_state(app, &link_caller(link), &token).await?;
        let organization = organization_of(app, link).await?;
        oauth_exchange::complete(app, &organization, state, &token, body, Completer::Link(&link.id)).await
    }
    .await;
    match outcome {
        Ok(mut answer) => {
            // Another tab may have completed first: the connect stands either way.
            app.records.use_link(link, app.now()).await?;
            tracing::info!(organization = %link.organization_id, link = %link.id, "onboarding link used");
            let pending = answer["phones"].as_array().is_some_and(|phones| phones.iter().any(waits_for_the_customer));
            if let Some(url) = link.success_redirect(pending) {
                answer["redirectUrl"] = url.into();
            }
            Ok(Response::ok(&answer))
        }
        Err(error) => {
            let Some(url) = link.failure_redirect(error.code) else { return Err(error) };
            let mut body: Value = serde_json::from_slice(&error.body()).expect("an error body is JSON");
            body["redirectUrl"] = url.into();
            Ok(Response::json(error.status, &body))
        }
    }
}

/// A number the customer still has to do something for: its PIN, or Meta's code.
fn waits_for_the_customer(phone: &Value) -> bool {
    matches!(phone["registration"].as_str(), Some("pin_required" | "verification_required"))
}

/// A phone route's answer; once the number is registered, with where the browser goes next.
fn with_redirect_once_registered(answer: Response, link: &OnboardingLink) -> Response {
    let Some(url) = link.success_redirect(false) else { return answer };
    if answer.status != http::StatusCode::OK {
        return answer;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else { return answer };
    if !matches!(body["phone"]["registration"].as_str(), Some("registered" | "not_required")) {
        return answer;
    }
    body["redirectUrl"] = url.into();
    Response::ok(&body)
}
