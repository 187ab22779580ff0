//! The consent dialog: `GET /www/{version}/dialog/oauth` shows it, and its form
//! posts to `/www/{version}/dialog/oauth/confirm`, which redirects the browser
//! back to the app like Meta does.
//!
//! Like Meta, a malformed dialog request is answered with an error page, never a
//! redirect: the `redirect_uri` of a bad request cannot be trusted.

use std::fmt::Write as _;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{Method, Request, Response, StatusCode};
use url::{Url, form_urlencoded};

use super::Sandbox;
use super::request::{Params, is_version};
use super::seed;
use super::state::{Grant, unix_now};

/// Permissions the dialog knows; anything else is refused as Meta refuses it.
const KNOWN_SCOPES: [&str; 6] = [
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
        match (rest, req.method()) {
            ("dialog/oauth", &Method::GET) => self.consent_page(version, &params),
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
        match params.get("response_type") {
            Some("code") => {}
            _ => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Invalid response_type: this app only accepts response_type=code.",
                );
            }
        }
        let scope = params.get("scope");
        let config_id = params.get("config_id");
        if scope.is_none() && config_id.is_none() {
            return error_page(StatusCode::BAD_REQUEST, "The dialog needs either a scope or a config_id parameter.");
        }
        if let Some(scope) = scope {
            let unknown: Vec<&str> =
                scope.split(',').map(str::trim).filter(|s| !s.is_empty() && !KNOWN_SCOPES.contains(s)).collect();
            if !unknown.is_empty() {
                return error_page(StatusCode::BAD_REQUEST, &format!("Invalid Scopes: {}.", unknown.join(", ")));
            }
        }
        let action = format!("{}/www/{version}/dialog/oauth/confirm", self.config.public_url);
        html(StatusCode::OK, &render_consent(&action, &self.config.app_id, &target))
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
        let grant = Grant { waba_ids, granular, granted_at: unix_now() };
        let code = self.lock().issue_code(&self.config.app_id, target.redirect_uri, grant);
        tracing::info!(wabas = granted, granular, "meta sandbox: consent given, authorization code issued");
        redirect(&target.location(&[("code", &code)]))
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
        Ok(Target { redirect_uri, state: params.get("state") })
    }
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

fn render_consent(action: &str, client_id: &str, target: &Target<'_>) -> String {
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

/// Escapes text for HTML content and double-quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
