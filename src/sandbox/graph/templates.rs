//! Message templates: `GET /{waba}/message_templates` (paged, filtered by `status`) and
//! the checks a template send meets, with Meta's template errors (132000, 132001, 132015,
//! 132016). Every WABA has the same seeded templates; a control changes their status.

use serde_json::{Value, json};

use super::super::request::Params;
use super::super::seed::Waba;
use super::super::state::State;
use super::{Call, GraphError};
use crate::sandbox::Sandbox;

/// A seeded template: name, language, category, body text (with `{{n}}` parameters) and
/// the status it starts in.
pub(in crate::sandbox) struct Template {
    pub name: &'static str,
    pub language: &'static str,
    pub category: &'static str,
    pub body: &'static str,
    pub status: &'static str,
}

pub(in crate::sandbox) static TEMPLATES: [Template; 5] = [
    Template { name: "hello_world", language: "en_US", category: "UTILITY", body: "Hello World", status: "APPROVED" },
    Template {
        name: "order_update",
        language: "en_US",
        category: "UTILITY",
        body: "Hi {{1}}, your order {{2}} is on its way.",
        status: "APPROVED",
    },
    Template {
        name: "order_update",
        language: "es_ES",
        category: "UTILITY",
        body: "Hola {{1}}, tu pedido {{2}} está en camino.",
        status: "APPROVED",
    },
    Template {
        name: "winter_sale",
        language: "en_US",
        category: "MARKETING",
        body: "Our winter sale starts today.",
        status: "PAUSED",
    },
    Template { name: "old_promo", language: "en_US", category: "MARKETING", body: "Last chance!", status: "REJECTED" },
];

/// The statuses a template may be in, as the list filter takes them.
const STATUSES: [&str; 10] = [
    "APPROVED",
    "ARCHIVED",
    "DELETED",
    "DISABLED",
    "IN_APPEAL",
    "LIMIT_EXCEEDED",
    "PAUSED",
    "PENDING",
    "PENDING_DELETION",
    "REJECTED",
];

impl Template {
    /// A stable id per (name, language).
    fn id(&self) -> String {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{}|{}", self.name, self.language).as_bytes(),
        );
        digest.as_ref()[..7].iter().map(|b| format!("{:02}", b % 100)).collect()
    }

    /// How many `{{n}}` parameters the body takes.
    fn parameters(&self) -> usize {
        self.body.matches("{{").count()
    }

    fn status<'a>(&'a self, waba: &str, state: &'a State) -> &'a str {
        state.template_status.get(&(waba.to_owned(), self.name, self.language)).map_or(self.status, String::as_str)
    }

    fn fields(&self, waba: &str, state: &State) -> Value {
        json!({
            "id": self.id(),
            "name": self.name,
            "language": self.language,
            "status": self.status(waba, state),
            "category": self.category,
            "parameter_format": "POSITIONAL",
            "components": [{ "type": "BODY", "text": self.body }],
        })
    }
}

impl Sandbox {
    pub(super) fn message_templates(&self, call: &Call<'_>, waba: &Waba) -> Result<Value, GraphError> {
        call.require_get(waba.id)?;
        let wanted = match call.params.get("status") {
            None => None,
            Some(status) => {
                let status = status.to_ascii_uppercase();
                if !STATUSES.contains(&status.as_str()) {
                    return Err(GraphError::invalid_parameter(format!(
                        "Param status must be one of {{{}}} - got \"{status}\".",
                        STATUSES.join(", ")
                    )));
                }
                Some(status)
            }
        };
        let items: Vec<Value> = {
            let state = self.lock();
            TEMPLATES
                .iter()
                .filter(|t| wanted.as_deref().is_none_or(|w| t.status(waba.id, &state) == w))
                .map(|t| t.fields(waba.id, &state))
                .collect()
        };
        self.page(call, &items)
    }
}

/// A valid template message: `type: template`, `template: {name, language: {code},
/// components?}`, checked against the WABA's templates as the Cloud API checks it.
pub(super) struct TemplateMessage {
    pub name: String,
    /// What the recipient reads, with the parameters filled in.
    pub text: String,
}

impl TemplateMessage {
    pub(super) fn from_params(params: &Params, waba: &str, state: &State) -> Result<Self, GraphError> {
        let template: Value = params.get("template").and_then(|raw| serde_json::from_str(raw).ok()).unwrap_or_default();
        let name = template["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| GraphError::required("template['name']"))?;
        let language = template["language"]["code"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| GraphError::required("template['language']['code']"))?;
        let found = TEMPLATES.iter().find(|t| t.name == name && t.language == language).ok_or_else(|| {
            GraphError::oauth(132_001, "(#132001) Template name does not exist in the translation")
                .with_details(format!("template name ({name}) does not exist in {language}"))
        })?;
        match found.status(waba, state) {
            "APPROVED" => {}
            "PAUSED" => {
                return Err(GraphError::oauth(132_015, "(#132015) Template is Paused").with_details(
                    "Template is paused due to low quality so it cannot be sent in a template message.",
                ));
            }
            "DISABLED" => {
                return Err(GraphError::oauth(132_016, "(#132016) Template is Disabled").with_details(
                    "Template has been paused too many times due to low quality and is now permanently disabled.",
                ));
            }
            _ => {
                return Err(GraphError::oauth(132_001, "(#132001) Template name does not exist in the translation")
                    .with_details(format!("template name ({name}) has not been approved in {language}")));
            }
        }
        let values: Vec<String> = template["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
            .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
            .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        if values.len() != found.parameters() {
            return Err(GraphError::oauth(
                132_000,
                "(#132000) Number of parameters does not match the expected number of params",
            )
            .with_details(format!(
                "body: number of localizable_params ({}) does not match the expected number of params ({})",
                values.len(),
                found.parameters()
            )));
        }
        let mut text = found.body.to_owned();
        for (i, value) in values.iter().enumerate() {
            text = text.replace(&format!("{{{{{}}}}}", i + 1), value);
        }
        Ok(Self { name: name.to_owned(), text })
    }
}

/// Whether the WABA has a template of that name (any language), for the controls.
pub(in crate::sandbox) fn known(name: &str) -> bool {
    TEMPLATES.iter().any(|t| t.name == name)
}

pub(in crate::sandbox) fn is_status(status: &str) -> bool {
    STATUSES.contains(&status) || status == "REINSTATED" || status == "FLAGGED"
}
