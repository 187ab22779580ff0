//! Onboarding links: a SaaS hands its customer a link, and the customer connects WhatsApp on
//! the service's hosted page, without the SaaS building Embedded Signup's browser side.
//!
//! A link's token (256 bits from the CSPRNG) is shown once, in the link's URL; the store
//! keeps only its SHA-256. An organization has at most one active link (a new one revokes
//! the others). A link is active until it expires, is revoked, or is used by a successful
//! connect; once used, its page and the phone routes keep answering for an hour, so the
//! customer can still enter a two-step PIN or a verification code.

use crate::clock::Timestamp;
use crate::crypto;
use crate::domain::OrganizationId;
use crate::error::ApiError;
use http::StatusCode;
use std::fmt;
use std::str::FromStr;
use url::Url;

pub const DEFAULT_DAYS: u64 = 7;
pub const MAX_DAYS: u64 = 30;
/// How long a used link's page and phone routes keep answering, to finish a PIN or a code.
pub const GRACE_SECONDS: i64 = 3600;
const MAX_URL: usize = 2048;

/// The secret part of a link's URL. Never logged (its `Debug` hides it), never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    pub fn generate() -> Self {
        Self(crypto::random_token::<32>())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keys the link by: reading the table yields no usable link.
    pub fn hash(&self) -> String {
        crypto::hex(&crypto::sha256(self.0.as_bytes()))
    }
}

impl FromStr for LinkToken {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if crypto::is_token_shaped(raw) { Ok(Self(raw.to_owned())) } else { Err("not an onboarding link".into()) }
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Active,
    Revoked { at: Timestamp },
    Used { at: Timestamp },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingLink {
    pub id: String,
    pub organization_id: OrganizationId,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub status: LinkStatus,
    pub success_url: Option<Url>,
    pub failure_url: Option<Url>,
    /// Embedded Signup's flow, as init-oauth's `featureType`.
    pub feature_type: Option<String>,
}

/// Why a link no longer opens anything (410, and a page that says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Expired,
    Revoked,
    Used,
}

impl LinkRefusal {
    pub fn code(self) -> &'static str {
        match self {
            LinkRefusal::Unknown => "link_unknown",
            LinkRefusal::Expired => "link_expired",
            LinkRefusal::Revoked => "link_revoked",
            LinkRefusal::Used => "link_used",
        }
    }

    /// What the person who opened the link is told.
    pub fn explanation(self) -> (&'static str, &'static str) {
        match self {
            LinkRefusal::Unknown => {
                ("This link does not exist", "Check that the whole link was copied, or ask for a new one.")
            }
            LinkRefusal::Expired => ("This link has expired", "Ask the service that sent it for a new link."),
            LinkRefusal::Revoked => {
                ("This link is no longer valid", "A newer link replaced it, or it was withdrawn. Ask for a new one.")
            }
            LinkRefusal::Used => {
                ("This link was already used", "WhatsApp was connected with it. Nothing more to do here.")
            }
        }
    }
}

impl From<LinkRefusal> for ApiError {
    fn from(refusal: LinkRefusal) -> Self {
        let (message, action) = refusal.explanation();
        ApiError::new(StatusCode::GONE, refusal.code(), format!("{message}.")).with_action(action)
    }
}

/// What an open link allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Active: everything the page does.
    Open,
    /// Used less than an hour ago: the page and the phone routes, to finish a PIN or a code.
    Finishing,
}

impl OnboardingLink {
    /// What the link allows at `now`, or why nothing.
    pub fn access(&self, now: Timestamp) -> Result<Access, LinkRefusal> {
        match self.status {
            LinkStatus::Revoked { .. } => Err(LinkRefusal::Revoked),
            LinkStatus::Used { at } if now.0 < at.0 + GRACE_SECONDS => Ok(Access::Finishing),
            LinkStatus::Used { .. } => Err(LinkRefusal::Used),
            LinkStatus::Active if now >= self.expires_at => Err(LinkRefusal::Expired),
            LinkStatus::Active => Ok(Access::Open),
        }
    }

    /// The link as its organization lists it: never its token or URL.
    pub fn view(&self, now: Timestamp) -> serde_json::Value {
        let status = match self.status {
            LinkStatus::Active if now >= self.expires_at => "expired",
            LinkStatus::Active => "active",
            LinkStatus::Revoked { .. } => "revoked",
            LinkStatus::Used { .. } => "used",
        };
        let mut view = serde_json::json!({
            "id": self.id,
            "status": status,
            "createdAt": self.created_at.to_rfc3339(),
            "expiresAt": self.expires_at.to_rfc3339(),
        });
        if let LinkStatus::Used { at } = self.status {
            view["usedAt"] = at.to_rfc3339().into();
        }
        if let LinkStatus::Revoked { at } = self.status {
            view["revokedAt"] = at.to_rfc3339().into();
        }
        if let Some(feature) = &self.feature_type {
            view["featureType"] = feature.clone().into();
        }
        view
    }

    /// Where the browser goes once the connect succeeded: `successUrl` with the organization
    /// and whether the number still waits for a PIN or a code (`pending`).
    pub fn success_redirect(&self, pending: bool) -> Option<String> {
        let status = if pending { "pending" } else { "connected" };
        self.success_url
            .as_ref()
            .map(|url| with_query(url, &[("organizationId", self.organization_id.as_str()), ("status", status)]))
    }

    /// Where the browser goes when the connect failed: `failureUrl` with the error's code.
    pub fn failure_redirect(&self, code: &str) -> Option<String> {
        self.failure_url.as_ref().map(|url| with_query(url, &[("error", code)]))
    }
}

fn with_query(url: &Url, pairs: &[(&str, &str)]) -> String {
    let mut url = url.clone();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

/// A `successUrl` or `failureUrl`: absolute, `https://` (or `http://` where private
/// addresses are allowed, as on a developer's machine), no credentials.
pub fn parse_redirect(field: &str, raw: &str, allow_http: bool) -> Result<Url, ApiError> {
    if raw.len() > MAX_URL {
        return Err(ApiError::validation(format!("`{field}` is longer than {MAX_URL} characters")));
    }
    let url = Url::parse(raw).map_err(|_| ApiError::validation(format!("`{field}` is not an absolute URL")))?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok {
        return Err(ApiError::validation(format!("`{field}` must be an https:// URL")));
    }
    if url.host_str().is_none_or(str::is_empty) || !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::validation(format!("`{field}` must name a host, without credentials")));
    }
    Ok(url)
}

/// A link's lifetime: `expiresInDays` (1 to 30, default 7), unless the stack replaces every
/// link's lifetime (`ONBOARDING_LINK_TTL_SECONDS`, for tests).
pub fn lifetime_seconds(expires_in_days: Option<u64>, replaced: Option<i64>) -> Result<i64, ApiError> {
    let days = expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::validation(format!("`expiresInDays` must be an integer from 1 to {MAX_DAYS}")));
    }
    Ok(replaced.unwrap_or(days as i64 * 86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(status: LinkStatus) -> OnboardingLink {
        OnboardingLink {
            id: "lnk_1".into(),
            organization_id: "org_1".parse().unwrap(),
            token_hash: LinkToken::generate().hash(),
            created_at: Timestamp(1_000),
            expires_at: Timestamp(2_000),
            status,
            success_url: Some(Url::parse("https://app.example.com/done?tab=wa").unwrap()),
            failure_url: Some(Url::parse("https://app.example.com/failed").unwrap()),
            feature_type: None,
        }
    }

    #[test]
    fn a_link_opens_while_active_and_for_an_hour_after_its_use() {
        assert_eq!(link(LinkStatus::Active).access(Timestamp(1_999)), Ok(Access::Open));
        assert_eq!(link(LinkStatus::Active).access(Timestamp(2_000)), Err(LinkRefusal::Expired));
        let used = link(LinkStatus::Used { at: Timestamp(1_500) });
        assert_eq!(used.access(Timestamp(1_500 + GRACE_SECONDS - 1)), Ok(Access::Finishing));
        assert_eq!(used.access(Timestamp(1_500 + GRACE_SECONDS)), Err(LinkRefusal::Used));
        let revoked = link(LinkStatus::Revoked { at: Timestamp(1_100) });
        assert_eq!(revoked.access(Timestamp(1_200)), Err(LinkRefusal::Revoked));
    }

    #[test]
    fn redirects_append_to_what_the_url_already_asks() {
        let link = link(LinkStatus::Active);
        assert_eq!(
            link.success_redirect(false).unwrap(),
            "https://app.example.com/done?tab=wa&organizationId=org_1&status=connected"
        );
        assert_eq!(link.success_redirect(true).unwrap().rsplit('=').next(), Some("pending"));
        assert_eq!(
            link.failure_redirect("access_denied").unwrap(),
            "https://app.example.com/failed?error=access_denied"
        );
    }

    #[test]
    fn each_refusal_is_a_410_with_its_own_code_and_words() {
        let refusals = [
            (LinkRefusal::Unknown, "link_unknown"),
            (LinkRefusal::Expired, "link_expired"),
            (LinkRefusal::Revoked, "link_revoked"),
            (LinkRefusal::Used, "link_used"),
        ];
        let mut told = std::collections::HashSet::new();
        for (refusal, code) in refusals {
            let (message, action) = refusal.explanation();
            assert!(message.starts_with("This link") && !action.is_empty(), "{refusal:?}");
            assert!(told.insert(message) && told.insert(action), "{refusal:?} says what no other does");
            let error = ApiError::from(refusal);
            assert_eq!((error.status, error.code), (StatusCode::GONE, code));
            assert_eq!(error.message, format!("{message}."));
            assert_eq!(error.action.as_deref(), Some(action));
        }
    }

    #[test]
    fn a_links_view_says_where_it_stands_and_never_its_token() {
        let at = |status, now| link(status).view(Timestamp(now));
        assert_eq!(at(LinkStatus::Active, 1_999)["status"], "active");
        assert_eq!(at(LinkStatus::Active, 2_000)["status"], "expired");
        let used = at(LinkStatus::Used { at: Timestamp(1_500) }, 1_600);
        assert_eq!((used["status"].as_str(), used["usedAt"].as_str()), (Some("used"), Some("1970-01-01T00:25:00Z")));
        let revoked = at(LinkStatus::Revoked { at: Timestamp(1_200) }, 1_300);
        assert_eq!(revoked["status"], "revoked");
        assert_eq!(revoked["revokedAt"], "1970-01-01T00:20:00Z");
        let mut signup = link(LinkStatus::Active);
        signup.feature_type = Some("whatsapp_business_app_onboarding".into());
        let view = signup.view(Timestamp(1_000));
        assert_eq!(view["featureType"], "whatsapp_business_app_onboarding");
        assert_eq!((view["id"].as_str(), view["expiresAt"].as_str()), (Some("lnk_1"), Some("1970-01-01T00:33:20Z")));
        assert!(!view.to_string().contains(&signup.token_hash), "{view}");
    }

    #[test]
    fn redirect_urls_are_https_unless_allowed() {
        assert!(parse_redirect("successUrl", "https://app.example.com/x", false).is_ok());
        assert!(parse_redirect("successUrl", "http://127.0.0.1:8080/x", false).is_err());
        assert!(parse_redirect("successUrl", "http://127.0.0.1:8080/x", true).is_ok());
        assert!(parse_redirect("successUrl", "javascript:alert(1)", true).is_err());
        assert!(parse_redirect("successUrl", "https://user:pw@app.example.com/", false).is_err());
        assert!(parse_redirect("successUrl", "/relative", false).is_err());
        assert!(parse_redirect("successUrl", "http://app.example.com/x", false).is_err(), "http only where allowed");
        assert!(parse_redirect("successUrl", "https://user@app.example.com/", false).is_err());
        assert!(parse_redirect("successUrl", "https://:pw@app.example.com/", false).is_err());
        let prefix = "https://app.example.com/";
        let longest = format!("{prefix}{}", "a".repeat(MAX_URL - prefix.len()));
        assert!(parse_redirect("successUrl", &longest, false).is_ok(), "{MAX_URL} characters are allowed");
        assert!(parse_redirect("successUrl", &format!("{longest}a"), false).is_err(), "one more is not");
    }

    #[test]
    fn lifetimes_are_a_day_to_a_month() {
        assert_eq!(lifetime_seconds(None, None).unwrap(), 7 * 86_400);
        assert_eq!(lifetime_seconds(Some(30), None).unwrap(), 30 * 86_400);
        assert!(lifetime_seconds(Some(0), None).is_err());
        assert!(lifetime_seconds(Some(31), None).is_err());
        assert_eq!(lifetime_seconds(Some(3), Some(5)).unwrap(), 5);
    }

    #[test]
    fn a_token_is_never_printed() {
        let token = LinkToken::generate();
        assert_eq!(format!("{token:?}"), "LinkToken(***)");
        assert!(token.as_str().len() >= 43, "256 bits");
    }

    #[test]
    fn a_link_is_kept_under_its_tokens_digest_alone() {
        let token: LinkToken = "a".repeat(43).parse().unwrap();
        assert_eq!(token.hash(), crypto::hex(&crypto::sha256("a".repeat(43).as_bytes())));
        assert_ne!(token.hash(), LinkToken::generate().hash(), "each link its own key");
        assert!(!token.hash().contains(token.as_str()));
    }
}
