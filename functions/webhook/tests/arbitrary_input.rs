//! Arbitrary bytes and arbitrary JSON, correctly signed, fed to the webhook: it never
//! panics and answers only 200 or a 4xx. Generation is seeded and deterministic (set
//! `WEBHOOK_FUZZ_SEED` / `WEBHOOK_FUZZ_CASES` to explore further).

mod common;

use serde_json::{Map, Value, json};

/// xorshift64*: small, fast and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const WORDS: &[&str] = &[
    "entry",
    "changes",
    "field",
    "value",
    "messages",
    "statuses",
    "metadata",
    "phone_number_id",
    "id",
    "from",
    "timestamp",
    "text",
    "body",
    "type",
    "contacts",
    "wa_id",
    "profile",
    "name",
    "phone_number_quality_update",
    "account_update",
    "event",
    "waba_info",
    "waba_id",
    "PARTNER_REMOVED",
    "FLAGGED",
    "display_phone_number",
    common::WABA,
    common::PHONES[0],
    "current_limit",
    "status",
    "delivered",
    "",
    "\u{0}",
    "😀",
    "\\u0000",
    // 2026 shapes: BSUIDs and usernames, errors, account-level changes.
    "from_user_id",
    "from_parent_user_id",
    "user_id",
    "parent_user_id",
    "username",
    "recipient_user_id",
    "errors",
    "error_data",
    "details",
    "code",
    "system",
    "user_changed_user_id",
    "US.13491208655302741918",
    "ban_info",
    "waba_ban_state",
    "DISABLE",
    "restriction_info",
    "restriction_type",
    "expiration",
    "2026-12-19T13:59:20+0000",
    "ACCOUNT_RESTRICTION",
    "DISABLED_UPDATE",
    "business_capability_update",
    "max_daily_conversations_per_business",
    "message_template_status_update",
    "user_id_update",
    "previous",
    "current",
];

/// Genuine notifications of the 2026 shapes, beside the inbound batch, for the mutator.
fn genuine_shapes() -> Vec<Value> {
    let value = |field: &str, value: Value| json!({"object": "whatsapp_business_account", "entry": [{"id": common::WABA, "time": 1795238940, "changes": [{"field": field, "value": value}]}]});
    let metadata = json!({"display_phone_number": "15550100001", "phone_number_id": common::PHONES[0]});
    vec![
        serde_json::from_slice(&common::inbound_batch(3, "fuzz")).unwrap(),
        value(
            "messages",
            json!({"metadata": metadata, "contacts": [{"profile": {"name": "S", "username": "@s"}, "user_id": "US.1", "parent_user_id": "US.ENT.1"}],
            "messages": [{"from_user_id": "US.1", "from_parent_user_id": "US.ENT.1", "id": "wamid.b", "timestamp": "1795238940", "type": "text", "text": {"body": "hi"}},
                         {"from_user_id": "US.1", "id": "wamid.s", "timestamp": "1795238941", "type": "system", "system": {"body": "User S changed from US.1 to US.2", "user_id": "US.2", "type": "user_changed_user_id"}}]}),
        ),
        value(
            "messages",
            json!({"metadata": metadata, "statuses": [{"id": "wamid.f", "status": "failed", "recipient_user_id": "US.1", "timestamp": "1795238940",
            "errors": [{"code": 131047, "title": "Re-engagement message", "message": "m", "error_data": {"details": "d"}}]}],
            "errors": [{"code": 131042, "title": "t", "message": "m", "error_data": {"details": "d"}}]}),
        ),
        value(
            "account_update",
            json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": "2026-12-19T13:59:20+0000"}]}),
        ),
        value(
            "account_update",
            json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "2026-12-24"}}),
        ),
        value("business_capability_update", json!({"max_daily_conversations_per_business": "TIER_10K"})),
        value(
            "message_template_status_update",
            json!({"event": "PAUSED", "message_template_id": 1, "message_template_name": "t", "message_template_language": "en_US", "reason": "NONE"}),
        ),
    ]
}

fn string(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => WORDS[rng.below(WORDS.len())].to_owned(),
        1 => rng.next().to_string(),
        2 => (0..rng.below(40)).map(|_| char::from_u32(rng.below(0x1_0000) as u32).unwrap_or('?')).collect(),
        _ => format!("wamid.{}", rng.next()),
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth == 0 { 5 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => json!(rng.next() as i64),
        3 => json!(f64::from(rng.below(1000) as u32) / 7.0),
        4 => Value::String(string(rng)),
        5 => Value::Array((0..rng.below(5)).map(|_| value(rng, depth - 1)).collect()),
        _ => Value::Object((0..rng.below(5)).map(|_| (string(rng), value(rng, depth - 1))).collect::<Map<_, _>>()),
    }
}

/// Replaces, removes or duplicates random parts of a genuine notification.
fn mutate(rng: &mut Rng, target: &mut Value, depth: usize) {
    match target {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).cloned().unwrap();
            match rng.below(4) {
                0 => *map.get_mut(&key).unwrap() = value(rng, 3),
                1 => {
                    map.remove(&key);
                }
                _ if depth < 12 => mutate(rng, map.get_mut(&key).unwrap(), depth + 1),
                _ => {}
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            match rng.below(4) {
                0 => items[i] = value(rng, 3),
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ if depth < 12 => mutate(rng, &mut items[i], depth + 1),
                _ => {}
            }
        }
        other => *other = value(rng, 2),
    }
}

#[tokio::test]
async fn arbitrary_signed_input_gets_200_or_4xx_and_never_a_panic() {
    let fixture = common::fixture().await;
    let seed: u64 = std::env::var("WEBHOOK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_cafe);
    let cases: usize = std::env::var("WEBHOOK_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(5000);
    let mut rng = Rng(seed | 1);
    let genuine = genuine_shapes();
    let mut answers = std::collections::BTreeMap::new();

    for case in 0..cases {
        let body: Vec<u8> = match case % 3 {
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            1 => serde_json::to_vec(&value(&mut rng, 5)).unwrap(),
            _ => {
                let mut mutated = genuine[rng.below(genuine.len())].clone();
                for _ in 0..=rng.below(4) {
                    mutate(&mut rng, &mut mutated, 0);
                }
                serde_json::to_vec(&mutated).unwrap()
            }
        };
        // Mostly signed correctly, so the parser and router see the input; sometimes not.
        let signature = if rng.chance(90) { Some(common::sign(&body)) } else { Some(format!("sha256={}", rng.next())) };
        let status = match webhook::handle(&fixture.app, common::request(body.clone(), signature)).await {
            Ok(response) => response.status,
            Err(error) => error.status,
        };
        assert!(
            status == http::StatusCode::OK || status.is_client_error(),
            "case {case} (seed {seed}) answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        *answers.entry(status.as_u16()).or_insert(0) += 1;
    }
    // The generator reached every outcome, so the assertion above was exercised on each.
    for status in [200, 400, 401] {
        assert!(answers.get(&status).copied().unwrap_or(0) > 0, "no case answered {status}: {answers:?}");
    }
}
