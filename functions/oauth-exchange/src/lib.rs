//! One-shot connection — `POST /api/integrations/whatsapp/oauth`
//! `{code, state, wabaId?, embeddedSignup?}` (JWT).
//!
//! With `embeddedSignup` — the `WA_EMBEDDED_SIGNUP` message Meta's popup posted to the
//! page, minus `type` — the code came from Meta's JS SDK: it is exchanged at once and
//! without `redirect_uri`, and only the phone the customer picked in the popup is
//! connected. `FINISH` connects and registers it; `FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING`
//! connects the WABA's WhatsApp Business app number (coexistence), never registered — Meta's
//! event names no phone, so the number is the one Graph shows `is_on_biz_app` (and a
//! number Graph shows is not on the app is registered like any other, whatever the event
//! said);
//! `FINISH_ONLY_WABA` saves nothing (there is no number yet); `CANCEL` and `ERROR` call
//! nobody and leave the state usable.
//!
//! Without it, the code came from the redirect dialog: exchanged with the state's
//! `redirect_uri`, and every phone of the WABA (`wabaId`, else the most recently granted)
//! is connected and registered.
//!
//! Either way the code is exchanged once: its token is handed to a new state, as the
//! callback does, so a retry with the same code, or this route after the callback,
//! continues from that state instead of redeeming the code again.

use serde::Deserialize;
use serde_json::json;
use shared::domain::StateKey;
use shared::domain::{AccessToken, OrganizationId, PhoneMode, StateToken, TokenKind, WabaId};
use shared::meta::PhoneInfo;
use shared::onboarding::{self, CodeSource, Connect, PhoneToConnect};
use shared::{ApiError, App, Request, Response};

/// The one-shot route's body, and the hosted page's `complete` (which has no `wabaId`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Exchange {
    code: Option<String>,
    pub state: String,
    waba_id: Option<WabaId>,
    embedded_signup: Option<SessionInfo>,
}

/// Who completes the connection.
#[derive(Debug, Clone, Copy)]
pub enum Completer<'a> {
    /// The organization's owner, through this route.
    Owner,
    /// The customer on an onboarding link's hosted page, which only uses Meta's popup: a
    /// code without a session is still one of the JS SDK's (exchanged without
    /// `redirect_uri`), and connects the granted WABA's numbers.
    Link(&'a str),
}

/// Embedded Signup's session info, forwarded as Meta sent it. Meta adds fields over time
/// (`waba_ids`, `ad_account_ids`, …); those not used here are ignored.
#[derive(Deserialize)]
struct SessionInfo {
    event: String,
    #[serde(default)]
    data: SessionData,
}

#[derive(Deserialize, Default)]
struct SessionData {
    waba_id: Option<String>,
    phone_number_id: Option<String>,
    business_id: Option<String>,
    current_step: Option<String>,
    error_code: Option<serde_json::Value>,
}

/// What the popup's finish event asks for.
enum Finish {
    /// A number picked in the popup, and how it reaches WhatsApp.
    Phone(PhoneMode),
    OnlyWaba,
    Abandoned,
}

fn finish(event: &str) -> Result<Finish, ApiError> {
    Ok(match event {
        // A migration or an API-access grant brings a number like FINISH does; whether it
        // needs registering is read from its fields.
        "FINISH" | "FINISH_OBO_MIGRATION" | "FINISH_GRANT_ONLY_API_ACCESS" => Finish::Phone(PhoneMode::CloudApi),
        "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING" => Finish::Phone(PhoneMode::Coexistence),
        "FINISH_ONLY_WABA" => Finish::OnlyWaba,
        "CANCEL" | "ERROR" => Finish::Abandoned,
        other => {
            return Err(ApiError::validation(format!(
                "embeddedSignup.event `{}` is not an Embedded Signup finish event",
                other.chars().take(40).collect::<String>()
            )));
        }
    })
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    let body: Exchange = request.json()?;
    let token: StateToken = body.state.parse().map_err(|_| ApiError::invalid_state())?;
    let state = onboarding::caller_state(app, &caller.user, &token).await?;

    // The state names the organization; a claim naming another one is a mismatch, not a choice.
    if let Some(claimed) = caller.claims.get(&app.config.org_claim)
        && claimed.parse::<OrganizationId>().ok().as_ref() != Some(&state.organization_id)
    {
        return Err(ApiError::forbidden("This OAuth state was issued for another organization."));
    }
    let organization = app.owned_organization(&caller, &state.organization_id).await?;
    complete(app, &organization, state, &token, body, Completer::Owner).await.map(|answer| Response::ok(&answer))
}

/// Exchanges the code once and connects what the person chose, for the organization the
/// state was issued to (which the caller checked): the route's answer.
pub async fn complete(
    app: &App,
    organization: &shared::domain::Organization,
    state: shared::domain::OAuthState,
    token: &StateToken,
    body: Exchange,
    completer: Completer<'_>,
) -> Result<serde_json::Value, ApiError> {
    if state.organization_id != organization.id {
        return Err(ApiError::forbidden("This OAuth state was issued for another organization."));
    }
    // What the popup says is settled before Meta is called: an abandoned or phone-less
    // signup spends nothing, and the state stays usable for another attempt.
    let (source, picked) = match &body.embedded_signup {
        None if matches!(completer, Completer::Link(_)) => (CodeSource::JsSdk, None),
        None => (CodeSource::Dialog, None),
        Some(session) => match finish(&session.event)? {
            Finish::Abandoned => {
                tracing::info!(
                    event = %session.event,
                    step = ?session.data.current_step,
                    error_code = ?session.data.error_code,
                    "Embedded Signup abandoned"
                );
                return Err(ApiError::signup_cancelled());
            }
            Finish::OnlyWaba => {
                return Err(ApiError::no_phone_numbers().with_action(
                    "The WhatsApp Business Account was created without a phone number. Add and verify a number in \
                     WhatsApp Manager, then connect again.",
                ));
            }
            Finish::Phone(mode) => (CodeSource::JsSdk, Some(picked_phone(&session.data, body.waba_id.as_ref(), mode)?)),
        },
    };
    let code = body.code.as_deref().ok_or_else(|| ApiError::validation("`code` is required"))?;

    let successor = onboarding::exchange_once(app, state, token, code, source).await?;
    let authorization = onboarding::authorization(&successor)?;
    let access_token = onboarding::open_state_token(app, &successor, authorization).await?;
    let chosen = Chosen { waba: body.waba_id.as_ref(), picked, granted_wabas: &authorization.granted_wabas };
    let link = match completer {
        Completer::Link(id) => Some(id),
        Completer::Owner => None,
    };
    let authorized = Authorized {
        state: &successor.key,
        token: &access_token,
        kind: authorization.token_kind,
        expires_at: authorization.token_expires_at,
    };
    let (waba, saved) = connect_chosen(app, organization, authorized, chosen, link).await?;
    Ok(json!({
        "success": true,
        "message": "WhatsApp connected successfully",
        "wabaId": waba,
        "phoneCount": saved.len(),
        "phones": saved.iter().map(onboarding::connected_phone).collect::<Vec<_>>(),
    }))
}

/// The number the customer picked in Embedded Signup's popup.
struct Picked {
    waba: WabaId,
    /// `None` for a coexistence onboarding: Meta's event names only the WABA.
    phone: Option<String>,
    mode: PhoneMode,
}

fn picked_phone(data: &SessionData, waba_in_body: Option<&WabaId>, mode: PhoneMode) -> Result<Picked, ApiError> {
    let waba: WabaId = data
        .waba_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("embeddedSignup.data.waba_id is required"))?
        .parse()
        .map_err(ApiError::validation)?;
    if waba_in_body.is_some_and(|w| *w != waba) {
        return Err(ApiError::validation("`wabaId` differs from the WABA of the Embedded Signup session"));
    }
    let phone = match (data.phone_number_id.clone(), mode) {
        (Some(phone), _) => Some(phone),
        (None, PhoneMode::Coexistence) => None,
        (None, PhoneMode::CloudApi) => {
            return Err(ApiError::no_phone_numbers().with_action(
                "Embedded Signup finished without a phone number; add one in WhatsApp Manager, then connect again.",
            ));
        }
    };
    tracing::debug!(business = ?data.business_id, "Embedded Signup session");
    Ok(Picked { waba, phone, mode })
}

/// What to connect: the popup's pick, or every phone of the chosen WABA.
struct Chosen<'a> {
    waba: Option<&'a WabaId>,
    picked: Option<Picked>,
    granted_wabas: &'a [WabaId],
}

/// The exchanged code: the state that now holds its token, and the token.
struct Authorized<'a> {
    state: &'a StateKey,
    token: &'a AccessToken,
    kind: TokenKind,
    expires_at: Option<shared::clock::Timestamp>,
}

async fn connect_chosen(
    app: &App,
    organization: &shared::domain::Organization,
    authorized: Authorized<'_>,
    chosen: Chosen<'_>,
    onboarding_link: Option<&str>,
) -> Result<(WabaId, Vec<shared::domain::PhoneNumber>), ApiError> {
    let Authorized { state, token, kind: token_kind, expires_at: token_expires_at } = authorized;
    let waba = match (&chosen.picked, chosen.waba) {
        (Some(picked), _) => granted_or_visible(app, token, chosen.granted_wabas, &picked.waba).await?,
        (None, Some(requested)) => onboarding::granted(chosen.granted_wabas, requested)?.clone(),
        (None, None) => chosen.granted_wabas.first().cloned().ok_or_else(ApiError::no_waba_found)?,
    };
    let listed = app.meta()?.phone_numbers(token, &waba).await?;
    // How a number reaches WhatsApp is what Graph says of it, never what the browser said.
    let as_meta_says = |info: PhoneInfo| {
        let mode = if info.is_on_biz_app { PhoneMode::Coexistence } else { PhoneMode::CloudApi };
        PhoneToConnect { info, mode }
    };
    let phones: Vec<PhoneToConnect> = match chosen.picked {
        Some(Picked { phone: Some(phone), mode, .. }) => {
            let info: PhoneInfo = listed.into_iter().find(|p| p.id == phone).ok_or_else(|| {
                ApiError::validation(
                    "The phone number of the Embedded Signup session does not belong to its WhatsApp Business Account.",
                )
            })?;
            if mode == PhoneMode::Coexistence && !info.is_on_biz_app {
                tracing::warn!(phone = %info.id, "a coexistence finish for a number Meta shows is not on the WhatsApp Business app: registered as any number");
            }
            vec![as_meta_says(info)]
        }
        // A coexistence finish names no number: the WABA's WhatsApp Business app numbers.
        Some(Picked { phone: None, .. }) => {
            let app_numbers: Vec<PhoneToConnect> =
                listed.into_iter().filter(|p| p.is_on_biz_app).map(as_meta_says).collect();
            if app_numbers.is_empty() {
                return Err(ApiError::no_phone_numbers().with_action(
                    "Meta shows no WhatsApp Business app number in this account; finish the app's onboarding on the \
                     phone, then connect again.",
                ));
            }
            app_numbers
        }
        None => listed.into_iter().map(as_meta_says).collect(),
    };
    if phones.is_empty() {
        return Err(ApiError::no_phone_numbers());
    }
    let saved = onboarding::connect(
        app,
        Connect { organization, state, token, token_kind, token_expires_at, waba: &waba, phones, onboarding_link },
    )
    .await?;
    Ok((waba, saved))
}

/// The session's WABA, which the token must have been granted. A business token's
/// `/debug_token` names its WABAs; should Meta leave them out, the WABA is granted exactly
/// when the token can read it.
async fn granted_or_visible(
    app: &App,
    token: &AccessToken,
    granted_wabas: &[WabaId],
    waba: &WabaId,
) -> Result<WabaId, ApiError> {
    if granted_wabas.is_empty() {
        return match app.meta()?.waba(token, waba).await {
            Ok(_) => Ok(waba.clone()),
            Err(shared::meta::MetaError::Graph(e)) if e.is_missing_permission() => {
                Err(ApiError::forbidden("This WhatsApp Business Account was not granted in this authorization."))
            }
            Err(other) => Err(other.into()),
        };
    }
    onboarding::granted(granted_wabas, waba).cloned()
}
