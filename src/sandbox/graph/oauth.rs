//! OAuth and tokens: `/oauth/access_token` (code exchange, `fb_exchange_token`),
//! `/debug_token`, and the check every other call makes of its token.
//!
//! Two kinds of token, as Meta issues them in late 2026: a configuration (Facebook
//! Login for Business, Embedded Signup v4) yields a business integration system user
//! token, which never expires or lasts 60 days; a `scope=` dialog yields a person's
//! short-lived user token, exchanged once for a ~60-day one. Codes from the redirect
//! dialog need the identical `redirect_uri`; codes the JS SDK handed to a page live 30
//! seconds and refuse any `redirect_uri`.

use aws_lc_rs::{constant_time, hmac};
use serde_json::{Value, json};

use super::super::request::Params;
use super::super::seed;
use super::super::state::{DATA_ACCESS_SECS, TokenKind};
use super::{Call, GraphError, Session, decode_hex};
use crate::sandbox::Sandbox;

impl Sandbox {
    pub(super) fn access_token(&self, params: &Params) -> Result<Value, GraphError> {
        self.check_client(params)?;
        match params.get("grant_type") {
            None | Some("authorization_code") => self.exchange_code(params),
            Some("fb_exchange_token") => self.exchange_token(params),
            Some(other) => Err(GraphError::oauth(100, format!("(#100) Unsupported grant_type: {other}"))),
        }
    }

    fn check_client(&self, params: &Params) -> Result<(), GraphError> {
        if params.get("client_id") != Some(self.config.app_id.as_str()) {
            return Err(GraphError::oauth(101, "Error validating application. Invalid application ID."));
        }
        let secret = params.get("client_secret").unwrap_or_default();
        if constant_time::verify_slices_are_equal(secret.as_bytes(), self.config.app_secret.as_bytes()).is_err() {
            return Err(GraphError::oauth(1, "Error validating client secret."));
        }
        Ok(())
    }

    fn exchange_code(&self, params: &Params) -> Result<Value, GraphError> {
        let invalid_code = || GraphError::oauth(100, "Invalid verification code format.").with_subcode(36007);
        let code = params.get("code").ok_or_else(invalid_code)?;
        let mut state = self.lock();
        let entry = state.codes.get_mut(code).filter(|c| c.client_id == self.config.app_id).ok_or_else(invalid_code)?;
        if entry.used {
            tracing::info!("meta sandbox: authorization code replayed");
            return Err(GraphError::oauth(100, "This authorization code has been used.").with_subcode(36009));
        }
        if std::time::Instant::now() >= entry.expires_at {
            return Err(GraphError::oauth(100, "This authorization code has expired.").with_subcode(36007));
        }
        // Meta burns a code on the first exchange attempt made by the right app,
        // even one that then fails: whoever holds a leaked code gets a single try,
        // and a client that sends the wrong redirect_uri must restart the dialog.
        entry.used = true;
        // `get` treats an empty value as absent, as Meta does for an SDK code.
        if params.get("redirect_uri") != entry.redirect_uri.as_deref() {
            tracing::info!(
                sdk_code = entry.redirect_uri.is_none(),
                "meta sandbox: code exchange with a different redirect_uri"
            );
            return Err(GraphError::oauth(
                100,
                "Error validating verification code. Please make sure your redirect_uri is \
                 identical to the one you used in the OAuth dialog request",
            )
            .with_subcode(36008));
        }
        let (yields, grant) = (entry.yields, entry.grant.clone());
        // An onboarding: a WhatsApp Business app number of a granted WABA may have its app's
        // contacts and history synced, once each, within the next 24 hours.
        let now = super::super::state::unix_now();
        for phone in seed::PHONES.iter().filter(|p| p.coexistence && grant.allows(p.waba_id)) {
            let number = state.number(phone);
            number.onboarded_at = Some(now);
            number.synced.clear();
        }
        let (token, mut expires_in) = state.issue_token(yields, grant);
        if let (TokenKind::Business { .. }, Some(left)) = (yields, state.business_token_secs_left) {
            state.shorten(&token, left);
            expires_in = Some(left);
        }
        tracing::info!(?yields, "meta sandbox: code exchanged for a token");
        Ok(token_answer(&token, expires_in))
    }

    /// `grant_type=fb_exchange_token`: a short-lived user token for a long-lived one, or
    /// the renewal of a 60-day business token (`set_token_expires_in_60_days=true`).
    /// Meta does not apply it to a freshly issued business token, and neither does this.
    fn exchange_token(&self, params: &Params) -> Result<Value, GraphError> {
        let input = params.get("fb_exchange_token").ok_or_else(GraphError::unparsable_token)?;
        let mut state = self.lock();
        let current = state.live_token(input).map_err(GraphError::token_problem)?;
        let renews = params.get("set_token_expires_in_60_days") == Some("true");
        let kind = match current.kind {
            TokenKind::ShortLivedUser => TokenKind::LongLivedUser,
            TokenKind::Business { sixty_days: true } if renews => TokenKind::Business { sixty_days: true },
            TokenKind::Business { .. } => {
                tracing::info!("meta sandbox: fb_exchange_token refused for a business token");
                return Err(GraphError::oauth(
                    100,
                    "(#100) fb_exchange_token is not supported for business integration system user access \
                     tokens; use the token issued by the code exchange",
                ));
            }
            TokenKind::LongLivedUser => return Err(GraphError::unparsable_token()),
        };
        let grant = current.grant.clone();
        let (token, expires_in) = state.issue_token(kind, grant);
        tracing::info!(?kind, "meta sandbox: token exchanged");
        Ok(token_answer(&token, expires_in))
    }

    /// `GET /debug_token`: with the app access token `{app_id}|{app_secret}`, or a
    /// token of the app's (which then needs its `appsecret_proof`).
    pub(super) fn debug_token(&self, call: &Call<'_>) -> Result<Value, GraphError> {
        let access = call.access_token().ok_or_else(GraphError::missing_token)?;
        if let Some((app_id, secret)) = access.split_once('|') {
            let secret_ok =
                constant_time::verify_slices_are_equal(secret.as_bytes(), self.config.app_secret.as_bytes()).is_ok();
            if app_id != self.config.app_id || !secret_ok {
                return Err(GraphError::oauth(190, "Invalid OAuth access token signature."));
            }
        } else {
            self.authenticate(call)?;
        }
        let input = call
            .params
            .get("input_token")
            .ok_or_else(|| GraphError::oauth(100, "(#100) The parameter input_token is required"))?;
        let state = self.lock();
        let Some(token) = state.tokens.get(input) else {
            // Meta answers 200 and describes the token as invalid.
            return Ok(json!({
                "data": {
                    "error": {
                        "code": 190,
                        "message": "Invalid OAuth access token - Cannot parse access token",
                    },
                    "is_valid": false,
                    "scopes": [],
                }
            }));
        };
        let grant = &token.grant;
        let business = matches!(token.kind, TokenKind::Business { .. });
        let mut data = json!({
            "app_id": self.config.app_id,
            "type": if business { "SYSTEM_USER" } else { "USER" },
            "application": seed::APP_NAME,
            // Meta writes 0 for "never".
            "data_access_expires_at": if business { 0 } else { grant.granted_at + DATA_ACCESS_SECS },
            "expires_at": token.expires_at.unwrap_or(0),
            "is_valid": !token.is_expired() && !token.revoked,
            "scopes": grant.scopes,
            "user_id": if business { seed::SYSTEM_USER_ID } else { seed::USER_ID },
        });
        if grant.granular {
            data["granular_scopes"] = json!([
                { "scope": "whatsapp_business_management", "target_ids": grant.waba_ids },
                { "scope": "whatsapp_business_messaging", "target_ids": grant.waba_ids },
            ]);
        }
        if token.revoked {
            data["error"] = json!({
                "code": 190,
                "subcode": 458,
                "message": "Error validating access token: The user has not authorized application.",
            });
        } else if token.is_expired() {
            data["error"] = json!({
                "code": 190,
                "subcode": 463,
                "message": "Error validating access token: Session has expired.",
            });
        }
        Ok(json!({ "data": data }))
    }

    /// Checks the token and its `appsecret_proof` (the app has "Require App Secret"
    /// on, so a token alone is not enough).
    pub(super) fn authenticate(&self, call: &Call<'_>) -> Result<Session, GraphError> {
        let token = call.access_token().ok_or_else(GraphError::missing_token)?;
        let (grant, kind) = {
            let state = self.lock();
            let issued = state.live_token(token).map_err(GraphError::token_problem)?;
            (issued.grant.clone(), issued.kind)
        };
        let proof = call
            .params
            .get("appsecret_proof")
            .ok_or_else(|| GraphError::method(100, "API calls from the server require an appsecret_proof argument"))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.config.app_secret.as_bytes());
        let proof_ok = decode_hex(proof).is_some_and(|tag| hmac::verify(&key, token.as_bytes(), &tag).is_ok());
        if !proof_ok {
            return Err(GraphError::method(100, "Invalid appsecret_proof provided in the API argument"));
        }
        Ok(Session { grant, business: matches!(kind, TokenKind::Business { .. }) })
    }
}

/// The token endpoint's answer: a business token that never expires has no `expires_in`.
fn token_answer(token: &str, expires_in: Option<u64>) -> Value {
    let mut answer = json!({ "access_token": token, "token_type": "bearer" });
    if let Some(seconds) = expires_in {
        answer["expires_in"] = seconds.into();
    }
    answer
}
