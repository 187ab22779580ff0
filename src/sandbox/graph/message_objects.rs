//! The message objects `POST /{phone-number-id}/messages` takes, checked key by key as the
//! Cloud API checks them: an unknown key is "(#100) Unexpected key", a missing one "(#100)
//! The parameter … is required.", a text over its length "(#100) Invalid parameter", reply
//! buttons and list rows out of Meta's counts and titles 131009 with Meta's details, a type
//! the Cloud API does not send 131051. The limits are Meta's, per type (text 4096; captions
//! 1024; reply buttons 1 to 3, titles 20; lists 10 rows, titles 24, descriptions 72; …).

use serde_json::{Map, Value};

use super::GraphError;

/// The keys a message may carry besides its type's own object.
const ENVELOPE: [&str; 8] =
    ["messaging_product", "recipient_type", "to", "recipient", "type", "context", "biz_opaque_callback_data", "status"];

/// What the sandbox keeps of a checked message.
pub(in crate::sandbox) struct Checked {
    pub kind: String,
    /// A line for logs and tests: the text, a caption, or what the message is.
    pub summary: String,
    /// Media ids the message refers to (uploaded ones must exist).
    pub media_id: Option<String>,
}

fn unexpected(key: &str, path: &str) -> GraphError {
    GraphError::oauth(100, format!("(#100) Unexpected key \"{key}\" on param \"{path}\"."))
}

fn missing(path: &str) -> GraphError {
    GraphError::required(path)
}

fn not_valid(details: impl Into<String>) -> GraphError {
    GraphError::oauth(131_009, "(#131009) Parameter value is not valid").with_details(details)
}

fn only(object: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), GraphError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(unexpected(key, path)),
        None => Ok(()),
    }
}

fn object<'a>(value: Option<&'a Value>, path: &str) -> Result<&'a Map<String, Value>, GraphError> {
    match value {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Err(missing(path)),
        Some(_) => Err(GraphError::invalid_parameter(format!("Param {path} must be a JSON object."))),
    }
}

/// A required string of 1 to `max` characters.
fn text<'a>(object: &'a Map<String, Value>, key: &str, path: &str, max: usize) -> Result<&'a str, GraphError> {
    let value = object.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| missing(path))?;
    length(value, path, max)?;
    Ok(value)
}

fn optional_text<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
    max: usize,
) -> Result<Option<&'a str>, GraphError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => length(s, path, max).map(|()| Some(s.as_str())),
        Some(_) => Err(GraphError::invalid_parameter(format!("Param {path} must be a string."))),
    }
}

fn length(value: &str, path: &str, max: usize) -> Result<(), GraphError> {
    if value.chars().count() > max {
        return Err(GraphError::invalid_parameter(format!("Param {path} must be at most {max} characters long.")));
    }
    Ok(())
}

/// Checks a message object (the whole request body) as Meta does.
pub(in crate::sandbox) fn check(message: &Map<String, Value>) -> Result<Checked, GraphError> {
    let kind = match message.get("type") {
        None => "text",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(GraphError::invalid_parameter("Param type must be a string.")),
    };
    if let Some(key) = message.keys().find(|k| !ENVELOPE.contains(&k.as_str()) && k.as_str() != kind) {
        return Err(unexpected(key, "message"));
    }
    if let Some(context) = message.get("context") {
        let context = object(Some(context), "context")?;
        only(context, &["message_id"], "context")?;
        text(context, "message_id", "context['message_id']", 256)?;
        if kind == "reaction" {
            return Err(not_valid("A reaction cannot be sent as a reply."));
        }
    }
    let body = message.get(kind);
    let (summary, media_id) = match kind {
        "text" => {
            let text_object = object(body, "text")?;
            only(text_object, &["body", "preview_url"], "text")?;
            (text(text_object, "body", "text['body']", 4096)?.to_owned(), None)
        }
        "image" | "video" | "audio" | "document" | "sticker" => media(kind, object(body, kind)?)?,
        "location" => {
            let location = object(body, "location")?;
            only(location, &["latitude", "longitude", "name", "address"], "location")?;
            for key in ["latitude", "longitude"] {
                let value = location.get(key).ok_or_else(|| missing(&format!("location['{key}']")))?;
                let number = value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok()));
                let limit = if key == "latitude" { 90.0 } else { 180.0 };
                if !number.is_some_and(|n: f64| n.abs() <= limit) {
                    return Err(not_valid(format!("location['{key}'] must be a number of degrees.")));
                }
            }
            let name = optional_text(location, "name", "location['name']", 1000)?;
            (format!("[location {}]", name.unwrap_or("pin")), None)
        }
        "contacts" => {
            let contacts =
                body.and_then(Value::as_array).filter(|c| !c.is_empty()).ok_or_else(|| missing("contacts"))?;
            if contacts.len() > 257 {
                return Err(not_valid("contacts: at most 257 contacts per message."));
            }
            for (i, contact) in contacts.iter().enumerate() {
                let path = format!("contacts[{i}]");
                let contact = object(Some(contact), &path)?;
                only(contact, &["addresses", "birthday", "emails", "name", "org", "phones", "urls"], &path)?;
                let name = object(contact.get("name"), &format!("{path}['name']"))?;
                text(name, "formatted_name", &format!("{path}['name']['formatted_name']"), 1000)?;
            }
            (format!("[{} contact(s)]", contacts.len()), None)
        }
        "interactive" => (interactive(object(body, "interactive")?)?, None),
        "reaction" => {
            let reaction = object(body, "reaction")?;
            only(reaction, &["message_id", "emoji"], "reaction")?;
            text(reaction, "message_id", "reaction['message_id']", 256)?;
            let emoji = reaction.get("emoji").and_then(Value::as_str).ok_or_else(|| missing("reaction['emoji']"))?;
            (format!("[reaction {emoji}]"), None)
        }
        // Checked against the WABA's templates by the caller.
        "template" => (String::new(), None),
        other => {
            return Err(GraphError::oauth(131_051, "(#131051) Unsupported message type")
                .with_details(format!("Message type {other} is not currently supported")));
        }
    };
    Ok(Checked { kind: kind.to_owned(), summary, media_id })
}

/// An image, video, audio, document or sticker: exactly one of an uploaded `id` and a
/// hosted `link`, and only the keys its type has.
fn media(kind: &str, fields: &Map<String, Value>) -> Result<(String, Option<String>), GraphError> {
    let allowed: &[&str] = match kind {
        "image" | "video" => &["id", "link", "caption"],
        "document" => &["id", "link", "caption", "filename"],
        "audio" => &["id", "link", "voice"],
        _ => &["id", "link"],
    };
    only(fields, allowed, kind)?;
    let id = optional_text(fields, "id", &format!("{kind}['id']"), 64)?;
    let link = optional_text(fields, "link", &format!("{kind}['link']"), 2048)?;
    match (id, link) {
        (Some(_), Some(_)) => {
            return Err(GraphError::invalid_parameter(format!("Param {kind} takes either 'id' or 'link', not both.")));
        }
        (None, None) => return Err(missing(&format!("{kind}['id']"))),
        (None, Some(link)) if !link.starts_with("https://") && !link.starts_with("http://") => {
            return Err(GraphError::invalid_parameter(format!("Param {kind}['link'] must be an http(s) URL.")));
        }
        _ => {}
    }
    let caption = optional_text(fields, "caption", &format!("{kind}['caption']"), 1024)?;
    if let Some(voice) = fields.get("voice")
        && !voice.is_boolean()
    {
        return Err(GraphError::invalid_parameter("Param audio['voice'] must be a boolean."));
    }
    let summary = match caption {
        Some(caption) => format!("[{kind}] {caption}"),
        None => format!("[{kind}]"),
    };
    Ok((summary, id.map(str::to_owned)))
}

/// Reply buttons, lists and call-to-action URLs, with Meta's limits.
fn interactive(fields: &Map<String, Value>) -> Result<String, GraphError> {
    only(fields, &["type", "header", "body", "footer", "action"], "interactive")?;
    let kind = text(fields, "type", "interactive['type']", 32)?;
    let body_max = if kind == "list" { 4096 } else { 1024 };
    let body = object(fields.get("body"), "interactive['body']")?;
    only(body, &["text"], "interactive['body']")?;
    let body_text = text(body, "text", "interactive['body']['text']", body_max)?;
    if let Some(footer) = fields.get("footer") {
        let footer = object_of(footer, "interactive['footer']")?;
        only(footer, &["text"], "interactive['footer']")?;
        text(footer, "text", "interactive['footer']['text']", 60)?;
    }
    if let Some(header) = fields.get("header") {
        let header = object_of(header, "interactive['header']")?;
        let header_kind = text(header, "type", "interactive['header']['type']", 16)?;
        match (kind, header_kind) {
            (_, "text") => {
                only(header, &["type", "text"], "interactive['header']")?;
                text(header, "text", "interactive['header']['text']", 60)?;
            }
            ("button" | "cta_url", "image" | "video" | "document") => {
                only(header, &["type", header_kind], "interactive['header']")?;
                media(
                    header_kind,
                    object(header.get(header_kind), &format!("interactive['header']['{header_kind}']"))?,
                )?;
            }
            _ => return Err(not_valid(format!("A {kind} message cannot have a {header_kind} header."))),
        }
    }
    let action = object(fields.get("action"), "interactive['action']")?;
    match kind {
        "button" => {
            only(action, &["buttons"], "interactive['action']")?;
            let buttons = action
                .get("buttons")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| missing("interactive['action']['buttons']"))?;
            if buttons.len() > 3 {
                return Err(not_valid("Buttons count invalid. Min: 1, Max: 3"));
            }
            let mut ids = Vec::new();
            for (i, button) in buttons.iter().enumerate() {
                let path = format!("interactive['action']['buttons'][{i}]");
                let button = object_of(button, &path)?;
                only(button, &["type", "reply"], &path)?;
                if button.get("type").and_then(Value::as_str) != Some("reply") {
                    return Err(not_valid(format!("{path}['type'] must be reply.")));
                }
                let reply = object(button.get("reply"), &format!("{path}['reply']"))?;
                only(reply, &["id", "title"], &format!("{path}['reply']"))?;
                let title = reply.get("title").and_then(Value::as_str).unwrap_or_default();
                if title.is_empty() || title.chars().count() > 20 {
                    return Err(not_valid("Button title length invalid. Min length: 1, Max length: 20"));
                }
                let id = text(reply, "id", &format!("{path}['reply']['id']"), 256)?;
                if ids.contains(&id) {
                    return Err(not_valid("Button ids must be unique."));
                }
                ids.push(id);
            }
        }
        "list" => {
            only(action, &["button", "sections"], "interactive['action']")?;
            text(action, "button", "interactive['action']['button']", 20)?;
            let sections = action
                .get("sections")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| missing("interactive['action']['sections']"))?;
            if sections.len() > 10 {
                return Err(not_valid("Sections count invalid. Min: 1, Max: 10"));
            }
            let mut rows = 0;
            for (i, section) in sections.iter().enumerate() {
                let path = format!("interactive['action']['sections'][{i}]");
                let section = object_of(section, &path)?;
                only(section, &["title", "rows"], &path)?;
                if sections.len() > 1 {
                    text(section, "title", &format!("{path}['title']"), 24)?;
                } else {
                    optional_text(section, "title", &format!("{path}['title']"), 24)?;
                }
                let section_rows = section
                    .get("rows")
                    .and_then(Value::as_array)
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| missing(&format!("{path}['rows']")))?;
                for (j, row) in section_rows.iter().enumerate() {
                    let row_path = format!("{path}['rows'][{j}]");
                    let row = object_of(row, &row_path)?;
                    only(row, &["id", "title", "description"], &row_path)?;
                    text(row, "id", &format!("{row_path}['id']"), 200)?;
                    text(row, "title", &format!("{row_path}['title']"), 24)?;
                    optional_text(row, "description", &format!("{row_path}['description']"), 72)?;
                }
                rows += section_rows.len();
            }
            if rows > 10 {
                return Err(not_valid("Total row count exceed max allowed count: 10"));
            }
        }
        "cta_url" => {
            only(action, &["name", "parameters"], "interactive['action']")?;
            if action.get("name").and_then(Value::as_str) != Some("cta_url") {
                return Err(missing("interactive['action']['name']"));
            }
            let parameters = object(action.get("parameters"), "interactive['action']['parameters']")?;
            only(parameters, &["display_text", "url"], "interactive['action']['parameters']")?;
            text(parameters, "display_text", "interactive['action']['parameters']['display_text']", 20)?;
            text(parameters, "url", "interactive['action']['parameters']['url']", 2048)?;
        }
        other => {
            return Err(GraphError::oauth(131_051, "(#131051) Unsupported message type")
                .with_details(format!("Interactive type {other} is not supported by this number.")));
        }
    }
    Ok(format!("[{kind}] {body_text}"))
}

fn object_of<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, GraphError> {
    object(Some(value), path)
}
