//! The organization's onboarding links (JWT, the organization's owner):
//!
//! - `POST …/whatsapp/onboarding-links` `{successUrl?, failureUrl?, featureType?,
//!   expiresInDays?}` → 201 with the link's `url`, shown this once; the organization's other
//!   active links are revoked in the same write;
//! - `GET …/whatsapp/onboarding-links` → the links, newest first, never a token or URL;
//! - `DELETE …/whatsapp/onboarding-links/{linkId}` → an active link is revoked (a used one
//!   stays used).

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use shared::domain::OrganizationId;
use shared::links::{self, LinkStatus, LinkToken, OnboardingLink};
use shared::routes::Action;
use shared::{ApiError, App, Request, Response, crypto, onboarding};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewLink {
    success_url: Option<String>,
    failure_url: Option<String>,
    feature_type: Option<String>,
    #[serde(default, deserialize_with = "shared::http::whole_number::optional")]
    expires_in_days: Option<u64>,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let id: OrganizationId = request.path("organizationId")?;
    match request.route.action {
        Action::CreateOnboardingLink => {
            let body: NewLink = request.json()?;
            let organization = app.owned_organization(&caller, &id).await?;
            create(app, &organization.id, body).await
        }
        Action::ListOnboardingLinks => {
            let organization = app.owned_organization(&caller, &id).await?;
            let now = app.now();
            let links = app.records.links(&organization.id).await?;
            let views: Vec<_> = links.iter().map(|l| l.view(now)).collect();
            Ok(Response::ok(&json!({ "success": true, "links": views })))
        }
        Action::RevokeOnboardingLink => {
            let link_id = request.path_params.get("linkId").cloned().unwrap_or_default();
            let organization = app.owned_organization(&caller, &id).await?;
            let link = app
                .records
                .link(&organization.id, &link_id)
                .await?
                .ok_or_else(|| ApiError::not_found("This organization has no such onboarding link."))?;
            if link.status == LinkStatus::Active {
                app.records.revoke_link(&link, app.now()).await?;
            }
            Ok(Response::ok(&json!({ "success": true, "message": "The link no longer opens anything." })))
        }
        other => Err(ApiError::internal(format!("onboarding links do not serve {other:?}"))),
    }
}

/// `lnk_` and the microsecond of its creation, then randomness: newer links sort after older
/// ones, even within one second.
fn link_id() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    format!("lnk_{micros:014x}{}", crypto::hex(&crypto::random_bytes::<4>()))
}

async fn create(app: &App, organization: &OrganizationId, body: NewLink) -> Result<Response, ApiError> {
    let allow_http = app.config.events_allow_private;
    let success_url =
        body.success_url.as_deref().map(|u| links::parse_redirect("successUrl", u, allow_http)).transpose()?;
    let failure_url =
        body.failure_url.as_deref().map(|u| links::parse_redirect("failureUrl", u, allow_http)).transpose()?;
    let feature_type = onboarding::feature_type(body.feature_type.as_deref())?;
    let lifetime = links::lifetime_seconds(body.expires_in_days, app.config.onboarding_link_ttl)?;
    let base = app
        .config
        .public_base_url
        .as_deref()
        .ok_or_else(|| ApiError::internal("PUBLIC_BASE_URL is not set, so a link would lead nowhere."))?;

    let token = LinkToken::generate();
    let now = app.now();
    let link = OnboardingLink {
        id: link_id(),
        organization_id: organization.clone(),
        token_hash: token.hash(),
        created_at: now,
        expires_at: now.plus_seconds(lifetime),
        status: LinkStatus::Active,
        success_url,
        failure_url,
        feature_type: feature_type.map(str::to_owned),
    };
    app.records.create_link(&link).await?;
    tracing::info!(organization = %organization, link = %link.id, "onboarding link created");
    Ok(Response::json(
        StatusCode::CREATED,
        &json!({
            "success": true,
            "data": {
                "id": link.id,
                // The only time the token is ever shown.
                "url": format!("{base}/connect/{}", token.as_str()),
                "expiresAt": link.expires_at.to_rfc3339(),
                "status": "active",
            },
        }),
    ))
}
