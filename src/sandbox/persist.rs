//! What the sandbox keeps across a restart of the local stack: the tokens it issued, the
//! numbers' registrations and PINs, the WABAs' subscriptions, the customers' BSUIDs and
//! the templates. The store under `DATA_DIR` keeps the connections; without this a
//! restarted stack would find every stored token unknown to its Meta. Kept beside the
//! store, readable by its owner only, written whole (a temporary file renamed) after each
//! request that can change it. Codes, sent messages and files are not kept: they live
//! minutes at Meta, or are the service's to keep.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dialog::KNOWN_SCOPES;
use super::graph::SYNC_TYPES;
use super::seed;
use super::state::{CreatedTemplate, Customer, Grant, IssuedToken, NumberState, State, TokenKind, unix_now};

#[derive(Serialize, Deserialize, Default)]
pub(super) struct Snapshot {
    tokens: Vec<SavedToken>,
    issued: Vec<String>,
    numbers: Vec<SavedNumber>,
    subscribed: Vec<String>,
    customers: Vec<SavedCustomer>,
    bsuid_generations: Vec<(String, String, u32)>,
    template_status: Vec<(String, String, String, String)>,
    created_templates: Vec<SavedTemplate>,
    deleted_templates: Vec<(String, String)>,
    profiles: HashMap<String, Value>,
    qr_codes: HashMap<String, Vec<Value>>,
    blocked: HashMap<String, Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct SavedToken {
    token: String,
    /// `short`, `long`, `business`, `business60`.
    kind: String,
    wabas: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    granular: bool,
    granted_at: u64,
    expires_at: Option<u64>,
    revoked: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedNumber {
    id: String,
    registered: bool,
    pin: Option<String>,
    /// Registration attempts, unix seconds.
    attempts: Vec<u64>,
    verified: bool,
    onboarded_at: Option<u64>,
    synced: Vec<String>,
    history_declined: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedCustomer {
    user_id: String,
    business_id: String,
    wa_id: String,
    withheld: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedTemplate {
    waba_id: String,
    id: String,
    name: String,
    language: String,
    category: String,
    components: Value,
}

fn waba_id(id: &str) -> Option<&'static str> {
    seed::waba(id).map(|w| w.id)
}

fn phone_id(id: &str) -> Option<&'static str> {
    seed::phone(id).map(|p| p.id)
}

/// A map by phone id, back onto the seeded numbers.
fn by_phone<V>(map: HashMap<String, V>) -> HashMap<&'static str, V> {
    map.into_iter().filter_map(|(k, v)| Some((phone_id(&k)?, v))).collect()
}

fn seconds_ago(at: Instant) -> u64 {
    unix_now().saturating_sub(Instant::now().saturating_duration_since(at).as_secs())
}

fn instant_of(unix: u64) -> Instant {
    let age = Duration::from_secs(unix_now().saturating_sub(unix));
    Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
}

impl Snapshot {
    pub fn of(state: &State) -> Self {
        Self {
            tokens: state
                .tokens
                .iter()
                .map(|(token, t)| SavedToken {
                    token: token.clone(),
                    kind: match t.kind {
                        TokenKind::ShortLivedUser => "short",
                        TokenKind::LongLivedUser => "long",
                        TokenKind::Business { sixty_days: false } => "business",
                        TokenKind::Business { sixty_days: true } => "business60",
                    }
                    .to_owned(),
                    wabas: t.grant.waba_ids.iter().map(|w| (*w).to_owned()).collect(),
                    scopes: t.grant.scopes.iter().map(|s| (*s).to_owned()).collect(),
                    granular: t.grant.granular,
                    granted_at: t.grant.granted_at,
                    expires_at: t.expires_at,
                    revoked: t.revoked,
                })
                .collect(),
            issued: state.issued.clone(),
            numbers: state
                .numbers
                .iter()
                .map(|(id, n)| SavedNumber {
                    id: (*id).to_owned(),
                    registered: n.registered,
                    pin: n.pin.clone(),
                    attempts: n.attempts.iter().map(|a| seconds_ago(*a)).collect(),
                    verified: n.verified,
                    onboarded_at: n.onboarded_at,
                    synced: n.synced.iter().map(|s| (*s).to_owned()).collect(),
                    history_declined: n.history_declined,
                })
                .collect(),
            subscribed: state.subscribed.iter().cloned().collect(),
            customers: state
                .customers
                .iter()
                .map(|(user_id, c)| SavedCustomer {
                    user_id: user_id.clone(),
                    business_id: c.business_id.to_owned(),
                    wa_id: c.wa_id.clone(),
                    withheld: c.withheld,
                })
                .collect(),
            bsuid_generations: state
                .bsuid_generations
                .iter()
                .map(|((business, wa_id), n)| ((*business).to_owned(), wa_id.clone(), *n))
                .collect(),
            template_status: state
                .template_status
                .iter()
                .map(|((waba, name, language), status)| {
                    (waba.clone(), (*name).to_owned(), (*language).to_owned(), status.clone())
                })
                .collect(),
            created_templates: state
                .created_templates
                .iter()
                .map(|t| SavedTemplate {
                    waba_id: t.waba_id.clone(),
                    id: t.id.clone(),
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category.clone(),
                    components: t.components.clone(),
                })
                .collect(),
            deleted_templates: state.deleted_templates.iter().cloned().collect(),
            profiles: state.profiles.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            qr_codes: state.qr_codes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            blocked: state.blocked.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        }
    }

    /// Puts what was kept back into a fresh state; what names no seeded object is dropped.
    pub fn restore(self, state: &mut State) {
        for t in self.tokens {
            let kind = match t.kind.as_str() {
                "short" => TokenKind::ShortLivedUser,
                "long" => TokenKind::LongLivedUser,
                "business60" => TokenKind::Business { sixty_days: true },
                _ => TokenKind::Business { sixty_days: false },
            };
            let grant = Grant {
                waba_ids: t.wabas.iter().filter_map(|w| waba_id(w)).collect(),
                scopes: t.scopes.iter().filter_map(|s| KNOWN_SCOPES.into_iter().find(|k| k == s)).collect(),
                granular: t.granular,
                granted_at: t.granted_at,
            };
            state.tokens.insert(t.token, IssuedToken { kind, grant, expires_at: t.expires_at, revoked: t.revoked });
        }
        state.issued = self.issued;
        for n in self.numbers {
            let Some(phone) = seed::phone(&n.id) else { continue };
            let mut number = NumberState::seeded(phone);
            number.registered = n.registered;
            number.pin = n.pin;
            number.attempts = n.attempts.into_iter().map(instant_of).collect();
            number.verified = n.verified;
            number.onboarded_at = n.onboarded_at;
            number.synced = n.synced.iter().filter_map(|s| SYNC_TYPES.into_iter().find(|t| t == s)).collect();
            number.history_declined = n.history_declined;
            state.numbers.insert(phone.id, number);
        }
        state.subscribed = self.subscribed.into_iter().collect();
        for c in self.customers {
            let Some(business) = seed::business(&c.business_id) else { continue };
            state
                .customers
                .insert(c.user_id, Customer { business_id: business.id, wa_id: c.wa_id, withheld: c.withheld });
        }
        for (business, wa_id, n) in self.bsuid_generations {
            if let Some(business) = seed::business(&business) {
                state.bsuid_generations.insert((business.id, wa_id), n);
            }
        }
        for (waba, name, language, status) in self.template_status {
            let known = super::graph::templates::TEMPLATES.iter().find(|t| t.name == name && t.language == language);
            if let Some(template) = known {
                state.template_status.insert((waba, template.name, template.language), status);
            }
        }
        state.created_templates = self
            .created_templates
            .into_iter()
            .map(|t| CreatedTemplate {
                waba_id: t.waba_id,
                id: t.id,
                name: t.name,
                language: t.language,
                category: t.category,
                components: t.components,
            })
            .collect();
        state.deleted_templates = self.deleted_templates.into_iter().collect();
        state.profiles = by_phone(self.profiles);
        state.qr_codes = by_phone(self.qr_codes);
        state.blocked = by_phone(self.blocked);
    }

    pub fn load(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        match serde_json::from_str(&text) {
            Ok(snapshot) => Some(snapshot),
            Err(error) => {
                tracing::warn!(%error, "the Meta sandbox's saved state is unreadable; starting afresh");
                None
            }
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
            #[cfg(unix)]
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        let partial = path.with_extension("partial");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&partial)?;
            file.write_all(&serde_json::to_vec(self).expect("a snapshot serializes"))?;
        }
        std::fs::rename(partial, path)
    }
}
