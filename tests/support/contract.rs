//! Every JSON answer the end-to-end tests receive from a route of the route table is checked
//! against `openapi.json` with a JSON Schema validator (draft 2020-12, as OpenAPI 3.1
//! uses): the schema of its route, method and status, or the error schema. The document
//! cannot drift from what the code answers without a test failing.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

const DOCUMENT: &str = "http://waba-connect.local/openapi.json";

struct Contract {
    schemas: boon::Schemas,
    /// (path, method, status) → the answer's schema; `None` status: the error schema.
    answers: HashMap<(String, String, Option<u16>), boon::SchemaIndex>,
}

/// A JSON pointer token, escaped and made safe for a URL fragment.
fn token(raw: &str) -> String {
    raw.replace('~', "~0").replace('/', "~1").replace('{', "%7B").replace('}', "%7D")
}

/// Every answer schema of the document, compiled once.
fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
        let document: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.add_resource(DOCUMENT, document.clone()).expect("openapi.json is a schema resource");
        let mut schemas = boon::Schemas::new();
        let mut compile = |pointer: String| {
            let location = format!("{DOCUMENT}#{pointer}");
            compiler.compile(&location, &mut schemas).unwrap_or_else(|e| panic!("{location}: {e}"))
        };
        let mut answers = HashMap::new();
        let error = compile("/components/schemas/Error".into());
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                answers.insert((path.clone(), method.clone(), None), error);
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    let (Ok(status), true) =
                        (status.parse::<u16>(), response["content"]["application/json"].is_object())
                    else {
                        continue;
                    };
                    let pointer =
                        format!("/paths/{}/{method}/responses/{status}/content/application~1json/schema", token(path));
                    answers.insert((path.clone(), method.clone(), Some(status)), compile(pointer));
                }
            }
        }
        Contract { schemas, answers }
    })
}

/// Checks `body` (when it is JSON) against the document, for a request to `path` (its query
/// left out) with `method` answered `status`. Paths outside the route table are not
/// described and not checked.
pub fn check(method: &str, path: &str, status: u16, body: &str) {
    let Ok(value) = serde_json::from_str::<Value>(body) else { return };
    let path = path.split('?').next().unwrap_or(path);
    let Ok((route, _)) = shared::routes::match_path(method, path) else { return };
    let contract = contract();
    let method = method.to_ascii_lowercase();
    let key = |status| (route.path.to_owned(), method.clone(), status);
    let index = match contract.answers.get(&key(Some(status))) {
        Some(index) => *index,
        None => {
            assert!(
                status >= 400,
                "{method} {} answered {status}, which openapi.json does not list: {body}",
                route.path
            );
            *contract.answers.get(&key(None)).unwrap_or_else(|| panic!("openapi.json lacks {method} {}", route.path))
        }
    };
    if let Err(error) = contract.schemas.validate(&value, index) {
        panic!(
            "{method} {} answered {status} with a body openapi.json does not describe:\n{error:#}\n{body}",
            route.path
        );
    }
}
