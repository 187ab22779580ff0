use super::{OrganizationId, UserId, WabaId};
use crate::clock::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// Settings blobs are the SaaS's own data; bounded so one item stays well inside DynamoDB's
/// 400 KB item limit.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

/// A trimmed, non-empty organization name of at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        match trimmed.chars().count() {
            0 => Err("`name` must not be empty".into()),
            n if n > 200 => Err("`name` must be at most 200 characters".into()),
            _ if raw.chars().any(char::is_control) => Err("`name` must not contain control characters".into()),
            _ => Ok(Self(trimmed.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Optional free text (`description`, `industry`): trimmed, empty means absent.
pub fn optional_text(field: &str, raw: Option<&str>, max_chars: usize) -> Result<Option<String>, String> {
    let Some(trimmed) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if trimmed.chars().count() > max_chars {
        return Err(format!("`{field}` must be at most {max_chars} characters"));
    }
    if raw.is_some_and(|raw| raw.chars().any(char::is_control)) {
        return Err(format!("`{field}` must not contain control characters"));
    }
    Ok(Some(trimmed.to_owned()))
}

/// A JSON object of bounded size (the `settings` and `agent-settings` documents).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("the body must be a JSON object".into());
        };
        let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_SETTINGS_BYTES {
            return Err(format!("the JSON object is {size} bytes; the limit is {MAX_SETTINGS_BYTES}"));
        }
        Ok(Self(map))
    }

    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON map serializes")
    }

    pub fn from_json_string(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok().map(Self)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub owner_id: UserId,
    pub name: OrganizationName,
    pub description: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub settings: JsonObject,
    pub agent_settings: JsonObject,
    /// A reference only, used to route webhooks: the phone data itself lives on PhoneNumber.
    pub waba_id: Option<WabaId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic-concurrency counter: every write is conditioned on the version it read.
    pub version: u64,
}

/// The changes `PUT /organizations/{id}` may make; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct OrganizationPatch {
    pub name: Option<OrganizationName>,
    pub description: Option<Option<String>>,
    pub industry: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub settings: Option<JsonObject>,
    pub agent_settings: Option<JsonObject>,
}

impl Organization {
    pub fn new(id: OrganizationId, owner_id: UserId, name: OrganizationName, now: Timestamp) -> Self {
        Self {
            id,
            owner_id,
            name,
            description: None,
            industry: None,
            website: None,
            settings: JsonObject::default(),
            agent_settings: JsonObject::default(),
            waba_id: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub fn is_owned_by(&self, user: &UserId) -> bool {
        &self.owner_id == user
    }

    pub fn apply(&mut self, patch: OrganizationPatch, now: Timestamp) {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(description) = patch.description {
            self.description = description;
        }
        if let Some(industry) = patch.industry {
            self.industry = industry;
        }
        if let Some(website) = patch.website {
            self.website = website;
        }
        if let Some(settings) = patch.settings {
            self.settings = settings;
        }
        if let Some(agent_settings) = patch.agent_settings {
            self.agent_settings = agent_settings;
        }
        self.updated_at = now;
    }

    /// The organization as the API shows it. It holds no phone data by design; callers that
    /// want a WhatsApp summary add one derived from PhoneNumber.
    pub fn summary(&self) -> OrganizationSummary<'_> {
        OrganizationSummary {
            id: &self.id,
            name: self.name.as_str(),
            description: self.description.as_deref(),
            industry: self.industry.as_deref(),
            website: self.website.as_deref(),
            owner_id: &self.owner_id,
            settings: &self.settings,
            agent_settings: &self.agent_settings,
            created_at: self.created_at.to_rfc3339(),
            updated_at: self.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSummary<'a> {
    pub id: &'a OrganizationId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub website: Option<&'a str>,
    pub owner_id: &'a UserId,
    pub settings: &'a JsonObject,
    pub agent_settings: &'a JsonObject,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(OrganizationName::parse("  Acme ").unwrap().as_str(), "Acme");
        assert!(OrganizationName::parse("   ").is_err());
        assert!(OrganizationName::parse(&"x".repeat(201)).is_err());
        assert!(OrganizationName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn settings_must_be_small_objects() {
        assert!(JsonObject::parse(serde_json::json!({"tone": "friendly"})).is_ok());
        assert!(JsonObject::parse(serde_json::json!([1, 2])).is_err());
        let big = "x".repeat(MAX_SETTINGS_BYTES);
        assert!(JsonObject::parse(serde_json::json!({ "big": big })).is_err());
    }

    #[test]
    fn optional_text_treats_blank_as_absent() {
        assert_eq!(optional_text("industry", Some("  "), 10).unwrap(), None);
        assert_eq!(optional_text("industry", Some(" retail "), 10).unwrap().as_deref(), Some("retail"));
        assert!(optional_text("industry", Some("x".repeat(11).as_str()), 10).is_err());
    }
}
