//! `GET /connect/{token}`: the hosted page, or the 410 page of a link that no longer opens
//! anything (saying which, without the organization's name).
//!
//! The page carries its scripts inline and its Content-Security-Policy names each by its
//! SHA-256, with Meta's SDK origin as the only other source of script: nothing from data is
//! ever script. The organization's name is HTML-escaped into the page as served, and the
//! scripts find what they need in `<meta>` tags and the page's own path.

use crate::hosted::{self, LinkOrError};
use http::{HeaderValue, StatusCode, header};
use shared::http::escape_html as escape;
use shared::links::LinkRefusal;
use shared::{ApiError, App, Request, Response, crypto};

const PAGE: &str = include_str!("../../../static/connect.html");
const STYLE: &str = include_str!("../../../static/connect.css");
const SIGNUP_JS: &str = include_str!("../../../static/signup.js");
const CONNECT_JS: &str = include_str!("../../../static/connect.js");
/// Meta's SDK origin; any other one is the local stack's sandbox, whose popup posts
/// Embedded Signup's messages from that origin.
const META_SDK_ORIGIN: &str = "https://connect.facebook.net";

pub async fn serve(app: &App, request: &Request) -> Result<Response, ApiError> {
    match hosted::open(app, request).await {
        Ok((link, _)) => {
            let organization = hosted::organization_of(app, &link).await?;
            Ok(page(&app.config.meta.sdk_url, organization.name.as_str()))
        }
        Err(LinkOrError::Refused(refusal)) => Ok(gone(refusal)),
        Err(LinkOrError::Failed(error)) => Err(error),
    }
}

/// The hosted page for an organization, loading Meta's SDK from `sdk_url`.
pub fn page(sdk_url: &str, organization_name: &str) -> Response {
    let sdk_origin = origin(sdk_url);
    let sandbox = (sdk_origin != META_SDK_ORIGIN).then_some(sdk_origin.as_str());
    // The organization's name goes in last: nothing is replaced in what it brings.
    let html = PAGE
        .replace("__STYLE__", STYLE)
        .replace("__SIGNUP_JS__", SIGNUP_JS)
        .replace("__CONNECT_JS__", CONNECT_JS)
        .replace("__META_SDK_URL__", &escape(sdk_url))
        .replace("__META_SANDBOX_ORIGIN__", &escape(sandbox.unwrap_or("")))
        .replace("__ORGANIZATION__", &escape(organization_name));
    let meta_hosts = "https://*.facebook.com";
    let extra = sandbox.map(|o| format!(" {o}")).unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src {} {} {sdk_origin}; style-src {}; img-src 'self' data: {meta_hosts} \
         https://*.fbcdn.net; connect-src 'self' {meta_hosts}{extra}; frame-src {meta_hosts}{extra}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        hash(SIGNUP_JS),
        hash(CONNECT_JS),
        hash(STYLE),
    );
    html_response(StatusCode::OK, html, &policy)
}

/// The page of a link that opens nothing: which of unknown, expired, revoked or used.
pub fn gone(refusal: LinkRefusal) -> Response {
    let (title, text) = refusal.explanation();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main class=\"card\" data-refusal=\"{code}\"><h1>{title}</h1><p>{text}</p></main></body></html>\n",
        code = refusal.code(),
    );
    let policy = format!("default-src 'none'; style-src {}; frame-ancestors 'none'; base-uri 'none'", hash(STYLE));
    html_response(StatusCode::GONE, html, &policy)
}

fn html_response(status: StatusCode, html: String, policy: &str) -> Response {
    let mut response = Response { status, headers: http::HeaderMap::new(), body: html.into() };
    let headers = &mut response.headers;
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The page's URL is the link: never cached, never sent on as a referrer.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(policy).expect("a policy is a header value"));
    response
}

/// A CSP source for exactly this inline script or style.
fn hash(content: &str) -> String {
    format!("'sha256-{}'", crypto::base64_standard(&crypto::sha256(content.as_bytes())))
}

fn origin(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organizations_name_is_escaped_as_served() {
        let response = page("https://connect.facebook.net/en_US/sdk.js", "<script>alert('x')</script> & Co __STYLE__");
        let html = String::from_utf8(response.body.to_vec()).unwrap();
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co __STYLE__"));
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn only_the_pages_own_scripts_and_metas_sdk_may_run() {
        let response = page("https://connect.facebook.net/en_US/sdk.js", "Acme");
        let policy = response.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains(&hash(SIGNUP_JS)) && policy.contains(&hash(CONNECT_JS)));
        assert!(policy.contains("script-src 'sha256-") && !policy.contains("unsafe-inline"));
        assert!(policy.contains("https://connect.facebook.net;"));
        let html = String::from_utf8(response.body.to_vec()).unwrap();
        assert_eq!(html.matches("<script>").count(), 2, "the two inline scripts, hashed");
        assert!(html.contains("<meta name=\"meta-sandbox-origin\" content=\"\">"));
        let local = page("http://127.0.0.1:3000/meta-sandbox/connect/en_US/sdk.js", "Acme");
        let policy = local.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("frame-src https://*.facebook.com http://127.0.0.1:3000"));
    }

    #[test]
    fn a_gone_link_says_why_and_nothing_else() {
        let response = gone(LinkRefusal::Expired);
        assert_eq!(response.status, StatusCode::GONE);
        let html = String::from_utf8(response.body.to_vec()).unwrap();
        assert!(html.contains("This link has expired") && html.contains("link_expired"));
    }
}
