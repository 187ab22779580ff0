//! An event endpoint: a URL of the organization's own, the event types it wants, and the
//! secret its deliveries are signed with. The URL must be `https://` and reach the public
//! internet: private, loopback, link-local (the cloud's metadata service among them) and
//! other special addresses are refused when the endpoint is created and again at every
//! delivery, since a name can resolve elsewhere later. `EVENT_ENDPOINTS_ALLOW_PRIVATE`
//! (the local stack's default) lets a developer use `http://` and their own machine.

use super::EventType;
use crate::clock::Timestamp;
use crate::domain::{Ciphertext, OrganizationId, Sealable};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// At most this many endpoints per organization.
pub const MAX_ENDPOINTS: usize = 10;
/// The longest URL an endpoint may have.
const MAX_URL: usize = 2048;

/// Whether deliveries go to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointStatus {
    Active,
    /// Every delivery failed for three days: nothing more is sent.
    Disabled {
        at: Timestamp,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub organization_id: OrganizationId,
    pub id: String,
    pub url: Url,
    /// The event types it receives; `None`: every type.
    pub types: Option<Vec<EventType>>,
    pub secret: Ciphertext,
    pub created_at: Timestamp,
    pub status: EndpointStatus,
    /// Since when every delivery to it has failed, if the last one did.
    pub failing_since: Option<Timestamp>,
}

impl Endpoint {
    pub fn wants(&self, kind: EventType) -> bool {
        self.status == EndpointStatus::Active && self.types.as_ref().is_none_or(|types| types.contains(&kind))
    }

    pub fn view(&self) -> serde_json::Value {
        let mut view = serde_json::json!({
            "id": self.id,
            "url": self.url.as_str(),
            "types": self.types.as_ref().map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
            "createdAt": self.created_at.to_rfc3339(),
            "status": match self.status { EndpointStatus::Active => "active", EndpointStatus::Disabled { .. } => "disabled" },
            "failingSince": self.failing_since.map(Timestamp::to_rfc3339),
        });
        if let EndpointStatus::Disabled { at, reason } = &self.status {
            view["disabledAt"] = at.to_rfc3339().into();
            view["disabledReason"] = reason.clone().into();
        }
        view
    }
}

/// Checks an endpoint's URL as given: absolute, `https://` (or `http://` where private
/// addresses are allowed), a host, no credentials, no fragment, and no address that is not
/// public when the host is written as one. Names are checked when they are resolved.
pub fn parse_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("`url` is longer than {MAX_URL} characters"));
    }
    let url = Url::parse(raw).map_err(|_| "`url` is not an absolute URL".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("`url` must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`url` must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("`url` must not have a fragment".into());
    }
    // The parser refuses an http(s) URL without a host, so there is always one to judge.
    match url.host() {
        Some(Host::Ipv4(ip)) if !allow_private && is_forbidden(IpAddr::V4(ip)) => {
            return Err("`url` names an address that is not public".into());
        }
        Some(Host::Ipv6(ip)) if !allow_private && is_forbidden(IpAddr::V6(ip)) => {
            return Err("`url` names an address that is not public".into());
        }
        Some(Host::Domain(name)) if !allow_private && is_local_name(name) => {
            return Err("`url` names a host that is not public".into());
        }
        _ => {}
    }
    Ok(url)
}

/// Names that never leave the machine or the private network, whatever they resolve to.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || !name.contains('.')
}

/// Whether an address must not be reached from the service: anything but public unicast —
/// private and shared (CGNAT) ranges, loopback, link-local (the cloud's metadata service),
/// unspecified, documentation, benchmarking, multicast, reserved; IPv6 unique-local,
/// link-local and the forms that embed an IPv4 address, judged by that address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network", the unspecified address among it
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved, the broadcast address among it
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 and 6to4 carry an IPv4 address: judged by it.
    if segments[0] == 0x64 && segments[1] == 0xff9b {
        return forbidden_v4(Ipv4Addr::new(
            (segments[6] >> 8) as u8,
            segments[6] as u8,
            (segments[7] >> 8) as u8,
            segments[7] as u8,
        ));
    }
    if segments[0] == 0x2002 {
        return forbidden_v4(Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        ));
    }
    // Only global unicast (2000::/3) is public: loopback, unspecified, discard-only,
    // unique-local, link-local, site-local and multicast all lie outside it.
    (segments[0] & 0xe000) != 0x2000
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] < 0x0200) // Teredo, benchmarking, ORCHID
}

/// An endpoint's signing secret: `whsec_` and the base64 of 32 random bytes, as Standard
/// Webhooks writes them. Shown once, when the endpoint is created; kept only sealed.
pub struct EndpointSecret(String);

impl EndpointSecret {
    pub fn generate() -> Self {
        Self(format!("whsec_{}", crate::crypto::base64_standard(&crate::crypto::random_bytes::<32>())))
    }

    /// The key the signature is made with: the bytes after `whsec_`.
    pub fn key(&self) -> Result<Vec<u8>, String> {
        crate::crypto::from_base64_standard(self.0.strip_prefix("whsec_").unwrap_or(&self.0))
            .ok_or_else(|| "an endpoint secret is not base64".to_owned())
    }
}

impl Sealable for EndpointSecret {
    fn expose(&self) -> &str {
        &self.0
    }
    fn from_clear(clear: String) -> Self {
        Self(clear)
    }
}

impl fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EndpointSecret(***)")
    }
}

impl Drop for EndpointSecret {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8, so the string stays well-formed.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_urls_are_endpoints() {
        assert!(parse_url("https://hooks.example.com/whatsapp?x=1", false).is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost/",
            "https://metadata.google.internal/",
            "https://printer.local/",
            "https://intranet/",
            "not a url",
        ] {
            assert!(parse_url(bad, false).is_err(), "{bad}");
        }
        assert!(parse_url("http://127.0.0.1:8080/hook", true).is_ok(), "allowed on a developer's machine");
        assert!(parse_url("http://[::1]:8080/hook", true).is_ok(), "allowed on a developer's machine");
        assert!(parse_url("http://localhost:8080/hook", true).is_ok(), "allowed on a developer's machine");
        assert!(parse_url("ftp://127.0.0.1/", true).is_err());
        assert!(parse_url("https://8.8.8.8/hook", false).is_ok(), "a public address written as one");
        assert!(parse_url("https://[2606:4700:4700::1111]/hook", false).is_ok(), "a public IPv6 address");
    }

    #[test]
    fn credentials_either_half_and_overlong_urls_are_refused() {
        assert!(parse_url("https://user@hooks.example.com/", false).is_err(), "a user name alone");
        assert!(parse_url("https://:pw@hooks.example.com/", false).is_err(), "a password alone");
        let prefix = "https://hooks.example.com/";
        let longest = format!("{prefix}{}", "a".repeat(MAX_URL - prefix.len()));
        assert!(parse_url(&longest, false).is_ok(), "{MAX_URL} characters are allowed");
        assert!(parse_url(&format!("{longest}a"), false).is_err(), "one more is not");
    }

    #[test]
    fn each_kind_of_local_name_is_refused() {
        for local in
            ["localhost", "LOCALHOST", "localhost.", "app.localhost", "printer.local", "db.internal", "intranet"]
        {
            assert!(is_local_name(local), "{local}");
        }
        for public in ["hooks.example.com", "localhost.example.com", "local.example", "internal.example.com"] {
            assert!(!is_local_name(public), "{public}");
        }
    }

    fn endpoint(types: Option<Vec<EventType>>, status: EndpointStatus) -> Endpoint {
        Endpoint {
            organization_id: OrganizationId::generate(),
            id: "ep_1".into(),
            url: Url::parse("https://hooks.example.com/whatsapp").unwrap(),
            types,
            secret: Ciphertext::from_bytes(vec![1, 2, 3]),
            created_at: Timestamp(1_800_000_000),
            status,
            failing_since: None,
        }
    }

    #[test]
    fn an_active_endpoint_wants_the_types_it_chose_and_a_disabled_one_nothing() {
        let all = endpoint(None, EndpointStatus::Active);
        assert!(EventType::ALL.iter().all(|kind| all.wants(*kind)));
        let some = endpoint(Some(vec![EventType::MessageReceived]), EndpointStatus::Active);
        assert!(some.wants(EventType::MessageReceived));
        assert!(!some.wants(EventType::MessageStatus));
        let disabled = EndpointStatus::Disabled { at: Timestamp(1_800_000_100), reason: "failing".into() };
        assert!(!endpoint(None, disabled.clone()).wants(EventType::MessageReceived));
        let view = endpoint(Some(vec![EventType::MessageReceived]), disabled).view();
        assert_eq!(view["url"], "https://hooks.example.com/whatsapp");
        assert_eq!(view["types"], serde_json::json!(["message.received"]));
        assert_eq!(view["status"], "disabled");
        assert_eq!(view["disabledReason"], "failing");
        assert_eq!(view["createdAt"], Timestamp(1_800_000_000).to_rfc3339());
    }

    #[test]
    fn special_addresses_are_forbidden_and_public_ones_are_not() {
        for bad in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.100.100.200",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.0.0.1",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c058:6301",
            "2002:a00:1::",
            "2002:c058:6301::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        // Public neighbours of each special range, each differing in one part of its test.
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "1.0.0.1",
            "1.18.0.1",
            "1.64.0.1",
            "1.88.99.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.0.1.1",
            "192.1.0.1",
            "192.88.98.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2606:ff9b::a00:1",
            "2001:200::1",
            "2606:db8::1",
            "2a00:100::1",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!is_forbidden(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn secrets_are_standard_webhooks_keys_that_never_print() {
        let secret = EndpointSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(secret.key().unwrap().len(), 32);
        assert_eq!(format!("{secret:?}"), "EndpointSecret(***)");
        assert_ne!(secret.expose(), EndpointSecret::generate().expose());
    }
}
