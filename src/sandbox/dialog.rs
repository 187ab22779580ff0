//! The dialog: `GET /www/{version}/dialog/oauth` shows it, and its form posts to
//! `/www/{version}/dialog/oauth/confirm`. Two ways, as on Meta:
//!
//! - the **redirect dialog** (`redirect_uri=`): a consent page whose answer redirects
//!   the browser back to the app with `code` or `error`. With `config_id` (a Login for
//!   Business configuration, which must come with `override_default_response_type=true`)
//!   the code yields a business token; with `scope` a person's short-lived user token.
//! - **Embedded Signup v4** in a popup (`display=popup`, opened by the JS SDK's
//!   `FB.login`): the customer picks a WABA and a number; the popup posts the
//!   `WA_EMBEDDED_SIGNUP` message to the page that opened it and hands the SDK a code
//!   that lives 30 seconds and is exchanged without `redirect_uri`.
//!
//! Like Meta, a malformed dialog request is answered with an error page, never a
//! redirect: the `redirect_uri` of a bad request cannot be trusted.

use std::fmt::Write as _;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use shared::http::escape_html as escape;
use url::{Url, form_urlencoded};

use super::Sandbox;
use super::request::{Params, is_version};
use super::seed;
use super::state::{CONFIGURATION_SCOPES, Grant, PopupBehaviour, TokenKind, unix_now};

/// Permissions the dialog knows; anything else is refused as Meta refuses it.
pub(super) const KNOWN_SCOPES: [&str; 6] = [
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "business_management",
    "public_profile",
    "email",
    "pages_show_list",
];

impl Sandbox {
    pub(super) fn dialog(&self, req: &Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path().trim_start_matches("/www/");
        let (version, rest) = path.split_once('/').unwrap_or((path, ""));
        if !is_version(version) {
            return error_page(StatusCode::NOT_FOUND, "This page isn't available.");
        }
        let Ok(params) = Params::from_request(req) else {
            return error_page(StatusCode::BAD_REQUEST, "The request body is malformed.");
        };
        let popup = params.get("display") == Some("popup");
        match (rest, req.method()) {
            ("dialog/oauth", &Method::GET) if popup => self.signup_page(version, &params),
            ("dialog/oauth", &Method::GET) => self.consent_page(version, &params),
            ("dialog/oauth/confirm", &Method::POST) if popup => self.finish_signup(&params),
            ("dialog/oauth/confirm", &Method::POST) => self.confirm(&params),
            ("dialog/oauth" | "dialog/oauth/confirm", _) => {
                error_page(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
            }
            _ => error_page(StatusCode::NOT_FOUND, "This page isn't available."),
        }
    }

    fn consent_page(&self, version: &str, params: &Params) -> Response<Bytes> {
        let target = match self.target(params) {
            Ok(target) => target,
            Err(message) => return error_page(StatusCode::BAD_REQUEST, message),
        };
        if let Err(message) = yields(params) {
            return error_page(StatusCode::BAD_REQUEST, message);
        }
        if let Some(scope) = params.get("scope") {
            let unknown: Vec<&str> =
                scope.split(',').map(str::trim).filter(|s| !s.is_empty() && !KNOWN_SCOPES.contains(s)).collect();
            if !unknown.is_empty() {
                return error_page(StatusCode::BAD_REQUEST, &format!("Invalid Scopes: {}.", unknown.join(", ")));
            }
        }
        let action = format!("{}/www/{version}/dialog/oauth/confirm", self.config.public_url);
        html(StatusCode::OK, &render_consent(&action, &self.config.app_id, params.get("config_id"), &target))
    }

    fn confirm(&self, params: &Params) -> Response<Bytes> {
        let target = match self.target(params) {
            Ok(target) => target,
            Err(message) => return error_page(StatusCode::BAD_REQUEST, message),
        };
        match params.get("decision") {
            Some("allow") => {}
            Some("deny") => {
                tracing::info!("meta sandbox: the user cancelled the consent dialog");
                return redirect(&target.location(&[
                    ("error", "access_denied"),
                    ("error_code", "200"),
                    ("error_description", "Permissions error"),
                    ("error_reason", "user_denied"),
                ]));
            }
            _ => {
                return error_page(StatusCode::BAD_REQUEST, "The decision must be allow or deny.");
            }
        }
        let granular = match params.get("granular") {
            None | Some("on") => true,
            Some("off") => false,
            Some(_) => {
                return error_page(StatusCode::BAD_REQUEST, "granular must be on or off.");
            }
        };
        let mut checked = Vec::new();
        for id in params.all("waba") {
            if seed::waba(id).is_none() {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "One of the selected WhatsApp Business Accounts does not exist.",
                );
            }
            checked.push(id);
        }
        // Meta lists granted WABAs most recently created first, whatever order the
        // boxes were ticked in; the seed table is already in that order.
        let waba_ids: Vec<&'static str> = seed::WABAS.iter().map(|w| w.id).filter(|id| checked.contains(id)).collect();
        let granted = waba_ids.len();
        let token = match yields(params) {
            Ok(token) => token,
            Err(message) => return error_page(StatusCode::BAD_REQUEST, message),
        };
        let scopes = match params.get("scope") {
            Some(scope) => {
                KNOWN_SCOPES.into_iter().filter(|known| scope.split(',').any(|s| s.trim() == *known)).collect()
            }
            None => CONFIGURATION_SCOPES.to_vec(),
        };
        let grant = Grant { waba_ids, scopes, granular, granted_at: unix_now() };
        let code = self.lock().issue_code(&self.config.app_id, Some(target.redirect_uri), token, grant);
        tracing::info!(wabas = granted, granular, ?token, "meta sandbox: consent given, authorization code issued");
        redirect(&target.location(&[("code", &code)]))
    }

    /// Embedded Signup's popup: the Phone Number First flow, reduced to its choice.
    fn signup_page(&self, version: &str, params: &Params) -> Response<Bytes> {
        if let Err(message) = self.popup_checks(params) {
            return error_page(StatusCode::BAD_REQUEST, message);
        }
        let action = format!("{}/www/{version}/dialog/oauth/confirm", self.config.public_url);
        html(StatusCode::OK, &render_signup(&action, params))
    }

    /// The popup's Finish or Cancel: a page that posts the session info to the page that
    /// opened the popup, hands the SDK its code, and closes.
    fn finish_signup(&self, params: &Params) -> Response<Bytes> {
        let (origin, token) = match self.popup_checks(params) {
            Ok(checked) => checked,
            Err(message) => return error_page(StatusCode::BAD_REQUEST, message),
        };
        let (session, code) = match params.get("decision") {
            Some("cancel") => {
                tracing::info!("meta sandbox: Embedded Signup cancelled");
                (
                    json!({ "type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL", "data": { "current_step": "PHONE_NUMBER_SETUP" } }),
                    None,
                )
            }
            Some("finish") => {
                let Some(choice) = params.get("choice").and_then(Choice::parse) else {
                    return error_page(StatusCode::BAD_REQUEST, "Choose a WhatsApp Business Account and a number.");
                };
                let app_flow = is_app_onboarding(params);
                match choice.phone {
                    Some(p) if p.coexistence && !app_flow => {
                        return error_page(
                            StatusCode::BAD_REQUEST,
                            "This number is in use with the WhatsApp Business app: onboard it with the WhatsApp \
                             Business app flow (featureType whatsapp_business_app_onboarding).",
                        );
                    }
                    Some(p) if !p.coexistence && app_flow => {
                        return error_page(
                            StatusCode::BAD_REQUEST,
                            "This number is not a WhatsApp Business app number.",
                        );
                    }
                    None if app_flow => {
                        return error_page(StatusCode::BAD_REQUEST, "Choose your WhatsApp Business app number.");
                    }
                    _ => {}
                }
                let grant = Grant {
                    waba_ids: vec![choice.waba.id],
                    scopes: CONFIGURATION_SCOPES.to_vec(),
                    granular: true,
                    granted_at: unix_now(),
                };
                let code = self.lock().issue_code(&self.config.app_id, None, token, grant);
                tracing::info!(
                    event = choice.event(),
                    "meta sandbox: Embedded Signup finished, code handed to the SDK"
                );
                (choice.session(), Some(code))
            }
            _ => return error_page(StatusCode::BAD_REQUEST, "The decision must be finish or cancel."),
        };
        let behaviour = self.lock().popup;
        html_with_script(&render_finish(origin, &session, code.as_deref(), behaviour))
    }

    /// What the popup needs: this app, a known configuration with the code grant, and
    /// the origin of the page that opened it (where its messages go). Returns that origin
    /// and the token the configuration's codes yield.
    fn popup_checks<'a>(&self, params: &'a Params) -> Result<(&'a str, TokenKind), &'static str> {
        if params.get("client_id") != Some(self.config.app_id.as_str()) {
            return Err("Invalid App ID: The provided app ID does not look like a valid app ID.");
        }
        if params.get("config_id").is_none() {
            return Err("Embedded Signup needs a Facebook Login for Business configuration (config_id).");
        }
        let token = yields(params)?;
        let origin = params.get("origin").ok_or("The SDK did not say which page opened the dialog.")?;
        let is_origin = Url::parse(origin).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.has_host() && u.path() == "/" && u.query().is_none()
        }) && !origin.ends_with('/');
        if !is_origin {
            return Err("The opener's origin is not an http(s) origin.");
        }
        Ok((origin, token))
    }

    /// The checks shared by the dialog and its form: the app, and where to send
    /// the browser back. The error is the message for the error page.
    fn target<'a>(&self, params: &'a Params) -> Result<Target<'a>, &'static str> {
        if params.get("client_id") != Some(self.config.app_id.as_str()) {
            return Err("Invalid App ID: The provided app ID does not look like a valid app ID.");
        }
        let redirect_uri = params.get("redirect_uri").ok_or("The parameter redirect_uri is required.")?;
        if !is_acceptable_redirect(redirect_uri) {
            return Err("URL Blocked: This redirect failed because the redirect URI is not \
                 an absolute http(s) URL without a fragment.");
        }
        if !self.config.redirect_uris.iter().any(|allowed| allowed == redirect_uri) {
            return Err("URL Blocked: This redirect failed because the redirect URI is not whitelisted in the \
                 app's Client OAuth Settings. Make sure Client and Web OAuth Login are on and add all your app \
                 domains as Valid OAuth Redirect URIs.");
        }
        Ok(Target { redirect_uri, state: params.get("state") })
    }
}

/// What the dialog's code will be exchanged for: a business token for a known Login for
/// Business configuration (asked for with the code grant, as such configurations
/// require), a person's short-lived token for a `scope` dialog.
fn yields(params: &Params) -> Result<TokenKind, &'static str> {
    if params.get("response_type") != Some("code") {
        return Err("Invalid response_type: this app only accepts response_type=code.");
    }
    match (params.get("config_id"), params.get("scope")) {
        (Some(config_id), _) => {
            let sixty_days =
                seed::configuration(config_id).ok_or("Invalid config_id: no such configuration for this app.")?;
            if params.get("override_default_response_type") != Some("true") {
                return Err("This configuration issues business tokens, which need the authorization code grant: \
                     add override_default_response_type=true.");
            }
            Ok(TokenKind::Business { sixty_days })
        }
        (None, Some(_)) => Ok(TokenKind::ShortLivedUser),
        (None, None) => Err("The dialog needs either a scope or a config_id parameter."),
    }
}

/// A pick in Embedded Signup's popup: a WABA, and one of its numbers or none.
struct Choice {
    waba: &'static seed::Waba,
    phone: Option<&'static seed::Phone>,
}

impl Choice {
    /// `{waba_id}:{phone_id}`, or `{waba_id}:` for a WABA without a number yet.
    fn parse(raw: &str) -> Option<Self> {
        let (waba, phone) = raw.split_once(':')?;
        let waba = seed::waba(waba)?;
        let phone = match phone {
            "" => None,
            id => Some(seed::phone(id).filter(|p| p.waba_id == waba.id)?),
        };
        Some(Self { waba, phone })
    }

    fn value(&self) -> String {
        format!("{}:{}", self.waba.id, self.phone.map_or("", |p| p.id))
    }

    fn event(&self) -> &'static str {
        match self.phone {
            None => "FINISH_ONLY_WABA",
            Some(p) if p.coexistence => "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
            Some(_) => "FINISH",
        }
    }

    /// The `message` event's data, as Meta posts it: a WhatsApp Business app onboarding
    /// names the WABA alone.
    fn session(&self) -> serde_json::Value {
        let mut data = json!({ "waba_id": self.waba.id });
        match self.phone {
            Some(phone) if phone.coexistence => {}
            Some(phone) => {
                data["business_id"] = self.waba.business_id.into();
                data["phone_number_id"] = phone.id.into();
            }
            None => data["business_id"] = self.waba.business_id.into(),
        }
        json!({ "type": "WA_EMBEDDED_SIGNUP", "event": self.event(), "data": data })
    }
}

/// Whether the dialog runs Embedded Signup's flow for a WhatsApp Business app number
/// (`extras.featureType`).
fn is_app_onboarding(params: &Params) -> bool {
    params
        .get("extras")
        .and_then(|extras| serde_json::from_str::<serde_json::Value>(extras).ok())
        .is_some_and(|extras| extras["featureType"] == "whatsapp_business_app_onboarding")
}

/// Where the dialog sends the browser back to.
struct Target<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
}

impl Target<'_> {
    /// The redirect URI with `pairs` and the state appended to its query.
    fn location(&self, pairs: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(pairs);
        if let Some(state) = self.state {
            query.append_pair("state", state);
        }
        let base = self.redirect_uri;
        let separator = if base.ends_with(['?', '&']) {
            ""
        } else if base.contains('?') {
            "&"
        } else {
            "?"
        };
        format!("{base}{separator}{}", query.finish())
    }
}

/// An absolute http(s) URL that can be put in a `Location` header as is. Meta
/// would also check it against the app's allow-list, which the sandbox has not.
fn is_acceptable_redirect(uri: &str) -> bool {
    uri.bytes().all(|b| b.is_ascii_graphic())
        && !uri.contains('#')
        && Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

fn redirect(location: &str) -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(LOCATION, location)
        .header(CACHE_CONTROL, "no-store")
        .body(Bytes::new())
        .expect("redirect URIs are checked to be valid header values")
}

fn html_with_script(body: &str) -> Response<Bytes> {
    let mut response = html(StatusCode::OK, body);
    response.headers_mut().insert(
        "content-security-policy",
        http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"),
    );
    response
}

fn html(status: StatusCode, body: &str) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .header(CACHE_CONTROL, "no-store")
        .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
        .header("x-content-type-options", "nosniff")
        .body(Bytes::from(body.to_owned()))
        .expect("static response parts are valid")
}

fn error_page(status: StatusCode, message: &str) -> Response<Bytes> {
    let body =
        page("Error", &format!("<h1>Sorry, something went wrong.</h1>\n<p class=\"error\">{}</p>\n", escape(message)));
    html(status, &body)
}

fn render_consent(action: &str, client_id: &str, config_id: Option<&str>, target: &Target<'_>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{app} wants to manage your WhatsApp accounts</h1>\n\
         <p>Logged in as <strong>{user}</strong>. {app} will be able to manage the \
         WhatsApp Business Accounts you select and send messages from their phone \
         numbers.</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"client_id\" value=\"{client_id}\">\n\
         <input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect_uri}\">\n",
        app = escape(seed::APP_NAME),
        user = escape(seed::USER_NAME),
        action = escape(action),
        client_id = escape(client_id),
        redirect_uri = escape(target.redirect_uri),
    );
    if let Some(state) = target.state {
        let _ = writeln!(body, "<input type=\"hidden\" name=\"state\" value=\"{}\">", escape(state));
    }
    // The grant the code carries is decided by the dialog's parameters, as on Meta.
    match config_id {
        Some(config_id) => {
            let _ = writeln!(
                body,
                "<input type=\"hidden\" name=\"config_id\" value=\"{}\">\n\
                 <input type=\"hidden\" name=\"override_default_response_type\" value=\"true\">",
                escape(config_id)
            );
        }
        None => body.push_str("<input type=\"hidden\" name=\"scope\" value=\"whatsapp_business_management\">\n"),
    }
    body.push_str("<input type=\"hidden\" name=\"response_type\" value=\"code\">\n");
    for business in &seed::BUSINESSES {
        let _ = writeln!(body, "<fieldset><legend>{}</legend>", escape(business.name));
        for waba in seed::wabas_of(business.id) {
            let phones = match seed::phones_of(waba.id).count() {
                0 => "no phone numbers".to_owned(),
                1 => "1 phone number".to_owned(),
                n => format!("{n} phone numbers"),
            };
            let _ = writeln!(
                body,
                "<label><input type=\"checkbox\" name=\"waba\" value=\"{id}\" checked> \
                 {name} <small>{phones}</small></label>",
                id = escape(waba.id),
                name = escape(waba.name),
            );
        }
        body.push_str("</fieldset>\n");
    }
    body.push_str(
        "<fieldset><legend>Access</legend>\n\
         <label><input type=\"radio\" name=\"granular\" value=\"on\" checked> \
         Only the accounts selected above</label>\n\
         <label><input type=\"radio\" name=\"granular\" value=\"off\"> \
         Business-wide (the app is not told which accounts you selected)</label>\n\
         </fieldset>\n\
         <div class=\"actions\">\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\">Continue</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Cancel</button>\n\
         </div>\n</form>\n",
    );
    page("Log in with Facebook", &body)
}

fn render_signup(action: &str, params: &Params) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Connect WhatsApp to {app}</h1>\n\
         <p>Embedded Signup &middot; logged in as <strong>{user}</strong>. Choose the business \
         account and the phone number {app} may use.</p>\n\
         <form method=\"post\" action=\"{action}\">\n",
        app = escape(seed::APP_NAME),
        user = escape(seed::USER_NAME),
        action = escape(action),
    );
    for name in ["client_id", "config_id", "origin", "override_default_response_type", "response_type", "extras"] {
        if let Some(value) = params.get(name) {
            let _ = writeln!(body, "<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value));
        }
    }
    body.push_str("<input type=\"hidden\" name=\"display\" value=\"popup\">\n");
    let mut first = true;
    // The WhatsApp Business app flow offers the business's app numbers; the default one
    // every other number (an app number cannot be taken off the app this way).
    let app_flow = is_app_onboarding(params);
    if app_flow {
        body.push_str("<p>Keep using the WhatsApp Business app: your chats and contacts are shared.</p>\n");
    }
    for business in &seed::BUSINESSES {
        let _ = writeln!(body, "<fieldset><legend>{}</legend>", escape(business.name));
        for waba in seed::wabas_of(business.id) {
            let phones: Vec<&seed::Phone> = seed::phones_of(waba.id).filter(|p| p.coexistence == app_flow).collect();
            let choices: Vec<Choice> = match (phones.is_empty(), app_flow) {
                (true, true) => continue,
                (true, false) => vec![Choice { waba, phone: None }],
                (false, _) => phones.into_iter().map(|p| Choice { waba, phone: Some(p) }).collect(),
            };
            for choice in choices {
                let label = match choice.phone {
                    None => "no phone number yet".to_owned(),
                    Some(p) if p.coexistence => format!("{} (WhatsApp Business app)", p.display_phone_number),
                    Some(p) if !p.verified => format!("{} (new number, not verified yet)", p.display_phone_number),
                    Some(p) => p.display_phone_number.to_owned(),
                };
                let _ = writeln!(
                    body,
                    "<label><input type=\"radio\" name=\"choice\" value=\"{value}\"{checked}> {waba} \
                     <small>{label}</small></label>",
                    value = escape(&choice.value()),
                    checked = if first { " checked" } else { "" },
                    waba = escape(waba.name),
                    label = escape(&label),
                );
                first = false;
            }
        }
        body.push_str("</fieldset>\n");
    }
    body.push_str(
        "<div class=\"actions\">\n\
         <button type=\"submit\" name=\"decision\" value=\"finish\" class=\"primary\">Finish</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button>\n\
         </div>\n</form>\n",
    );
    page("Embedded Signup", &body)
}

/// The page the popup ends on: it posts the session info (a JSON string, as Meta's
/// popup does) and the SDK's code to the opener, in the order `behaviour` says (or the
/// code alone), then closes.
fn render_finish(origin: &str, session: &serde_json::Value, code: Option<&str>, behaviour: PopupBehaviour) -> String {
    // Inside a <script>, `<` is escaped so no value can close the element.
    let script_json = |value: &serde_json::Value| value.to_string().replace('<', "\\u003c");
    let login = json!({ "type": "sandbox-sdk:login", "code": code });
    let post_session = format!("window.opener.postMessage(JSON.stringify({}), origin);\n", script_json(session));
    let post_login = format!("window.opener.postMessage({}, origin);\n", script_json(&login));
    let posts = match behaviour {
        PopupBehaviour::SessionFirst => format!("{post_session}{post_login}"),
        PopupBehaviour::CodeFirst => format!("{post_login}{post_session}"),
        PopupBehaviour::NoSession => post_login,
    };
    let script = format!(
        "(function () {{\n\
         var origin = {origin};\n\
         if (window.opener) {{\n\
         {posts}\
         }}\n\
         window.close();\n\
         }})();",
        origin = script_json(&json!(origin)),
    );
    page_with_script("Embedded Signup", "<h1>You can close this window.</h1>\n", &script)
}

fn page(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} | Meta sandbox</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <main>\n<p class=\"badge\">Meta sandbox &middot; not the real Facebook</p>\n\
         {main}</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

fn page_with_script(title: &str, main: &str, script: &str) -> String {
    page(title, main).replace("</body>", &format!("<script>{script}</script>\n</body>"))
}

const STYLE: &str = "\
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
background:#f0f2f5;color:#1c1e21}\
main{max-width:30rem;margin:3rem auto;background:#fff;border-radius:8px;padding:1.5rem 2rem;\
box-shadow:0 1px 3px rgba(0,0,0,.15)}\
h1{font-size:1.25rem;margin:.5rem 0 1rem}\
.badge{display:inline-block;margin:0;padding:.1rem .5rem;border-radius:4px;background:#fff4d6;\
color:#7a5a00;font-size:.8rem}\
fieldset{border:1px solid #dddfe2;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}\
legend{font-weight:600;padding:0 .25rem}\
label{display:block;margin:.35rem 0;cursor:pointer}\
small{color:#65676b}\
.actions{display:flex;flex-direction:row-reverse;gap:.75rem;margin-top:1.25rem}\
button{font:inherit;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #ccd0d5;\
background:#e4e6eb;cursor:pointer}\
button.primary{background:#1877f2;border-color:#1877f2;color:#fff;font-weight:600}\
.error{color:#b3261e}";
