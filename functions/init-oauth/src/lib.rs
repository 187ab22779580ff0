//! Step 1 — `GET /api/v1/organizations/{organizationId}/whatsapp/init-oauth`.
//!
//! Issues a fresh OAuth state bound to the organization and the caller, valid for
//! `OAUTH_STATE_TTL_SECONDS`, and both ways to get a code with it: the URL of Meta's
//! redirect dialog, and (with a Login for Business configuration, `META_CONFIG_ID`) what
//! the frontend passes to Meta's JS SDK to open Embedded Signup v4 in a popup.
//! `?featureType=whatsapp_business_app_onboarding` opens Embedded Signup for a business
//! that keeps using the WhatsApp Business app on its number (coexistence).

use serde_json::json;
use shared::domain::{OAuthState, OrganizationId, StateStep, StateToken, UserId};
use shared::onboarding::feature_type;
use shared::{ApiError, App, Request, Response};

/// Embedded Signup's `extras`: `setup`, and the flow when it is not the default one.
fn extras(feature_type: Option<&str>) -> serde_json::Value {
    let mut extras = json!({ "setup": {} });
    if let Some(feature) = feature_type {
        extras["featureType"] = feature.into();
    }
    extras
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let organization_id: OrganizationId = request.path("organizationId")?;
    let feature = feature_type(request.query_value("featureType"))?;
    let organization = app.owned_organization(&caller, &organization_id).await?;
    issue(app, organization.id, caller.user, feature).await.map(|answer| Response::ok(&answer))
}

/// A new state for `caller` to connect the organization with, and both ways to use it: the
/// route's answer. The caller checked that `caller` may.
pub async fn issue(
    app: &App,
    organization_id: OrganizationId,
    caller: UserId,
    feature: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let now = app.now();
    let token = StateToken::generate();
    let state = OAuthState {
        key: token.key(),
        organization_id,
        caller,
        // Kept on the state: the code exchange must repeat it byte for byte.
        redirect_uri: app.config.meta.redirect_uri.clone(),
        created_at: now,
        expires_at: now.plus_seconds(app.config.oauth_state_ttl.as_secs() as i64),
        step: StateStep::Pending { exchange: None },
    };
    app.records.create_state(&state).await?;

    let mut answer = json!({
        "success": true,
        "authUrl": dialog_url(app, &token, &state.redirect_uri, feature),
        "state": token.as_str(),
        "expiresAt": state.expires_at.to_rfc3339(),
        "message": "Open Embedded Signup with embeddedSignup (FB.login), or redirect the user to authUrl.",
    });
    if let Some(config_id) = &app.config.meta.config_id {
        // What `FB.init` and `FB.login` take, as Meta's Embedded Signup v4 documents them.
        answer["embeddedSignup"] = json!({
            "appId": app.config.meta.app_id,
            "configId": config_id,
            "graphVersion": app.config.meta.graph_version,
            "responseType": "code",
            "overrideDefaultResponseType": true,
            "extras": extras(feature),
        });
    }
    Ok(answer)
}

/// `{META_DIALOG_URL}/{version}/dialog/oauth?…`, with `config_id` (Facebook Login for
/// Business) instead of `scope` when one is configured. A configuration that issues
/// business tokens needs the authorization-code grant, so the dialog must be told to
/// override its default response type.
fn dialog_url(app: &App, state: &StateToken, redirect_uri: &str, feature: Option<&str>) -> String {
    let meta = &app.config.meta;
    let mut url =
        url::Url::parse(&format!("{}/{}/dialog/oauth", meta.dialog_url.trim_end_matches('/'), meta.graph_version))
            .expect("META_DIALOG_URL was validated at start-up");
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", &meta.app_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state.as_str())
            .append_pair("response_type", "code");
        match &meta.config_id {
            // The JS SDK hands `extras` to the dialog this way; the dialog opened directly
            // takes it the same.
            Some(config_id) => query
                .append_pair("config_id", config_id)
                .append_pair("override_default_response_type", "true")
                .append_pair("extras", &extras(feature).to_string()),
            // business_management reads the person's businesses: a grant without granular
            // scopes names its WABAs only through them (`/me/businesses`).
            None => query
                .append_pair("scope", "whatsapp_business_management,whatsapp_business_messaging,business_management"),
        };
    }
    url.into()
}
