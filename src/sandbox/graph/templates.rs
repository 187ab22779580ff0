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
        match *call.method {
            http::Method::POST => return self.create_template(call, waba),
            http::Method::DELETE => return self.delete_template(call, waba),
            _ => call.require_get(waba.id)?,
        }
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
            let deleted = |name: &str| state.deleted_templates.contains(&(waba.id.to_owned(), name.to_owned()));
            let mut items: Vec<Value> = TEMPLATES
                .iter()
                .filter(|t| !deleted(t.name))
                .filter(|t| wanted.as_deref().is_none_or(|w| t.status(waba.id, &state) == w))
                .map(|t| t.fields(waba.id, &state))
                .collect();
            items.extend(
                state
                    .created_templates
                    .iter()
                    .filter(|t| t.waba_id == waba.id && wanted.as_deref().is_none_or(|w| w == "PENDING"))
                    .map(|t| {
                        json!({ "id": t.id, "name": t.name, "language": t.language, "status": "PENDING",
                                "category": t.category, "components": t.components })
                    }),
            );
            items
        };
        self.page(call, &items)
    }

    /// `POST /{waba}/message_templates`: a new template, pending review, with Meta's checks.
    fn create_template(&self, call: &Call<'_>, waba: &Waba) -> Result<Value, GraphError> {
        let given = call.json.clone().unwrap_or_else(|| call.params.as_object());
        if let Some(key) = given.keys().find(|k| {
            !["name", "language", "category", "components", "parameter_format", "allow_category_change"]
                .contains(&k.as_str())
        }) {
            return Err(GraphError::oauth(
                100,
                format!("(#100) Unexpected key \"{key}\" on param \"message_templates\"."),
            ));
        }
        let text = |key: &str| given.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
        let name = text("name").ok_or_else(|| GraphError::required("name"))?;
        if name.len() > 512 || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(GraphError::invalid_parameter(
                "Param name must be lowercase letters, digits and underscores, at most 512 characters.",
            ));
        }
        let language = text("language").ok_or_else(|| GraphError::required("language"))?;
        let shaped =
            (2..=7).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
        if !shaped {
            return Err(GraphError::invalid_parameter(format!(
                "Param language is not a supported language: {language}"
            )));
        }
        let category = text("category").ok_or_else(|| GraphError::required("category"))?;
        if !["UTILITY", "MARKETING", "AUTHENTICATION"].contains(&category) {
            return Err(GraphError::invalid_parameter(
                "Param category must be one of {UTILITY, MARKETING, AUTHENTICATION}.",
            ));
        }
        let components = given
            .get("components")
            .filter(|c| {
                c.as_array().is_some_and(|c| {
                    c.iter().any(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("body")))
                })
            })
            .cloned()
            .ok_or_else(|| GraphError::invalid_parameter("Param components must be a list with a BODY component."))?;
        let mut state = self.lock();
        let seeded = TEMPLATES.iter().any(|t| t.name == name && t.language == language)
            && !state.deleted_templates.contains(&(waba.id.to_owned(), name.to_owned()));
        let created =
            state.created_templates.iter().any(|t| t.waba_id == waba.id && t.name == name && t.language == language);
        if seeded || created {
            return Err(
                GraphError::invalid_parameter("Content in This Language Already Exists").with_subcode(2_388_024)
            );
        }
        let id = super::super::state::random_digits(15);
        state.created_templates.push(super::super::state::CreatedTemplate {
            waba_id: waba.id.to_owned(),
            id: id.clone(),
            name: name.to_owned(),
            language: language.to_owned(),
            category: category.to_owned(),
            components,
        });
        Ok(json!({ "id": id, "status": "PENDING", "category": category }))
    }

    /// `DELETE /{waba}/message_templates?name=…`: every language of the template.
    fn delete_template(&self, call: &Call<'_>, waba: &Waba) -> Result<Value, GraphError> {
        let name = call.params.get("name").ok_or_else(|| GraphError::required("name"))?;
        let mut state = self.lock();
        let before = state.created_templates.len();
        state.created_templates.retain(|t| !(t.waba_id == waba.id && t.name == name));
        let seeded = TEMPLATES.iter().any(|t| t.name == name)
            && state.deleted_templates.insert((waba.id.to_owned(), name.to_owned()));
        if state.created_templates.len() == before && !seeded {
            return Err(GraphError::invalid_parameter(format!("Template name {name} does not exist.")));
        }
        Ok(json!({ "success": true }))
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
