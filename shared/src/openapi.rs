//! The API described in OpenAPI 3.1, built from the one route table: every route's path
//! and method come from [`ROUTES`], and each action says here what it takes and answers.
//! `openapi.json` at the repository root is this document; a test keeps the two equal, and
//! the end-to-end tests check every JSON answer they receive against it.

use crate::routes::{Action, Auth, Gateway, ROUTES, Route};
use serde_json::{Map, Value, json};

/// Every `code` of the error body.
pub const ERROR_CODES: &[&str] = &[
    "validation_error",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "invalid_state",
    "state_used",
    "state_expired",
    "access_denied",
    "no_waba_found",
    "no_phone_numbers",
    "signup_cancelled",
    "not_registered",
    "reauthorization_required",
    "phone_restricted",
    "waba_banned",
    "pin_mismatch",
    "registration_limited",
    "organization_limit",
    "verification_required",
    "verification_refused",
    "invalid_code",
    "not_connected",
    "recipient_not_supported",
    "template_error",
    "meta_error",
    "meta_unavailable",
    "service_unavailable",
    "internal_error",
    "link_unknown",
    "link_expired",
    "link_revoked",
    "link_used",
    "outside_service_window",
    "unsupported_message_type",
    "message_rejected",
    "media_too_large",
    "unsupported_media_type",
    "media_unavailable",
    "edge_not_allowed",
];

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn list(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// An object with these properties, the first `required` of which must be present.
fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// A request body: these properties and no other (the service refuses unknown fields).
fn body(required: &[&str], properties: Value) -> Value {
    let mut object = object(required, properties);
    object["additionalProperties"] = json!(false);
    object
}

/// Free text the service trims: at most `max` characters, no control characters.
fn free_text(max: usize) -> Value {
    json!({ "type": ["string", "null"], "maxLength": max, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$" })
}

/// A name the service trims and needs: some character other than a space.
fn name(max: usize) -> Value {
    json!({
        "type": "string", "maxLength": max,
        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
    })
}

/// A success answer: `{"success": true, …}`.
fn success(required: &[&str], properties: Value) -> Value {
    let mut all = vec!["success"];
    all.extend_from_slice(required);
    let mut props = properties;
    props["success"] = json!({ "const": true });
    object(&all, props)
}

fn page_of(field: &str, item: Value) -> Value {
    success(&[field, "nextCursor"], json!({ field: list(item), "nextCursor": nullable("string") }))
}

fn query(name: &str, required: bool, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": required, "description": description, "schema": id_schema(name) })
}

/// The format of an id or a state as the service parses it, so that a generated client
/// sends only what the service takes.
fn id_schema(name: &str) -> Value {
    match name {
        "organizationId" => json!({ "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$" }),
        "phoneNumberId" | "wabaId" => json!({ "type": "string", "pattern": "^[0-9]{1,32}$" }),
        "state" => json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{32,128}$" }),
        "endpointId" => json!({ "type": "string", "pattern": "^ep_[0-9a-fA-F]{16}$" }),
        _ => string(),
    }
}

const PAGE: [(&str, &str); 2] =
    [("limit", "Items per page, 1 to 100 (default 20)."), ("cursor", "The `nextCursor` of the previous page.")];

/// What one action takes and answers.
struct Operation {
    summary: &'static str,
    query: Vec<Value>,
    body: Option<Value>,
    /// Success status and its JSON body (`None`: not JSON).
    answers: Vec<(u16, Option<Value>)>,
}

fn operation(action: Action) -> Operation {
    let paged = || {
        let mut page: Vec<Value> = PAGE.iter().map(|(n, d)| query(n, false, d)).collect();
        page[0]["schema"] = json!({ "type": "integer", "minimum": 1, "maximum": 100 });
        page
    };
    let op = |summary, query, body, answers| Operation { summary, query, body, answers };
    let ok = |body: Value| vec![(200, Some(body))];
    match action {
        Action::CreateOrganization => op(
            "Create an organization; the caller becomes its owner.",
            vec![],
            Some(body(
                &["name"],
                json!({ "name": name(200), "description": free_text(2000), "industry": free_text(100) }),
            )),
            vec![(
                201,
                Some(success(&["data", "nextStep"], json!({ "data": schema("Organization"), "nextStep": string() }))),
            )],
        ),
        Action::GetOrganization => {
            op("An organization, with its WhatsApp summary.", vec![], None, ok(schema("OrganizationAnswer")))
        }
        Action::UpdateOrganization => op(
            "Change an organization's profile.",
            vec![],
            Some(body(
                &[],
                json!({
                    "name": { "oneOf": [name(200), { "type": "null" }] },
                    "description": free_text(2000), "industry": free_text(100),
                    "website": {
                        "type": ["string", "null"], "maxLength": 2048, "pattern": "^(|https?://[A-Za-z0-9][A-Za-z0-9.-]*(/[!-~]*)?)$",
                        "description": "An absolute http(s) URL; empty removes it.",
                    },
                }),
            )),
            ok(schema("OrganizationAnswer")),
        ),
        Action::UpdateSettings | Action::UpdateAgentSettings => op(
            "Replace a settings object (a JSON object of at most 16 KiB).",
            vec![],
            Some(json!({ "type": "object" })),
            ok(schema("OrganizationAnswer")),
        ),
        Action::InitOauth => op(
            "Start a connection: the OAuth state, the dialog URL and Embedded Signup's launch parameters.",
            vec![json!({
                "name": "featureType", "in": "query", "required": false,
                "description": "`whatsapp_business_app_onboarding`: a business that keeps its WhatsApp Business app (coexistence).",
                "schema": { "enum": ["whatsapp_business_app_onboarding"] },
            })],
            None,
            ok(success(
                &["authUrl", "state", "expiresAt", "message"],
                json!({
                    "authUrl": string(), "state": string(), "expiresAt": string(), "message": string(),
                    "embeddedSignup": object(
                        &["appId", "configId", "graphVersion", "responseType", "overrideDefaultResponseType", "extras"],
                        json!({
                            "appId": string(), "configId": string(), "graphVersion": string(),
                            "responseType": { "const": "code" }, "overrideDefaultResponseType": { "const": true },
                            "extras": { "type": "object" },
                        }),
                    ),
                }),
            )),
        ),
        Action::Callback => op(
            "Meta's redirect after the dialog: exchanges the code and hands the browser a new state (a redirect to FRONTEND_URL, or JSON with `Accept: application/json`).",
            vec![
                query(
                    "state",
                    false,
                    "The state init-oauth issued. Meta sends it back with `code`, and usually with `error`; without it the callback can only redirect with `error`.",
                ),
                query("code", false, "Meta's authorization code."),
                query("error", false, "Set by Meta when the person declined."),
                query("error_reason", false, "Meta's reason for `error`."),
                json!({
                    "name": "source", "in": "query", "required": false,
                    "description": "`js_sdk`: the code came from Embedded Signup's popup (exchanged without redirect_uri), when no session event came with it.",
                    "schema": { "enum": ["js_sdk"] },
                }),
            ],
            None,
            vec![
                (200, Some(success(&["state", "message"], json!({ "state": string(), "message": string() })))),
                (302, None),
            ],
        ),
        Action::Accounts => op(
            "The WhatsApp Business Accounts the person granted (step 3).",
            vec![query("state", true, "The state the callback handed back.")],
            None,
            ok(success(
                &["wabaOptions"],
                json!({ "wabaOptions": list(object(&["id", "name"], json!({ "id": string(), "name": string(), "timezone_id": nullable("string") }))) }),
            )),
        ),
        Action::PhoneNumbers => op(
            "The phone numbers of a granted WABA, every page (step 4).",
            vec![query("state", true, "The state the callback handed back."), query("wabaId", true, "A granted WABA.")],
            None,
            ok(success(
                &["phoneOptions"],
                json!({ "phoneOptions": list(object(
                    &["id", "displayPhoneNumber", "registered", "coexistence"],
                    json!({
                        "id": string(), "displayPhoneNumber": string(), "verifiedName": nullable("string"),
                        "qualityRating": nullable("string"), "registered": { "type": "boolean" },
                        "coexistence": { "type": "boolean" }, "nameStatus": nullable("string"),
                    }),
                )) }),
            )),
        ),
        Action::SaveConfig => op(
            "Save the chosen number (step 5): subscribe the app, store the phone, register it.",
            vec![],
            Some(body(
                &["state", "wabaId", "phoneNumberId"],
                json!({ "state": id_schema("state"), "wabaId": id_schema("wabaId"), "phoneNumberId": id_schema("phoneNumberId") }),
            )),
            ok(success(
                &["data", "message"],
                json!({
                    "message": string(),
                    "data": object(
                        &["id", "whatsappPhoneId", "whatsappBusinessId", "isActive", "mode", "registration", "canSend"],
                        json!({
                            "id": string(), "name": string(), "whatsappPhoneId": string(), "whatsappBusinessId": string(),
                            "isActive": { "type": "boolean" }, "mode": schema("Mode"), "registration": schema("Registration"),
                            "registrationReason": nullable("string"), "canSend": { "type": "boolean" },
                        }),
                    ),
                }),
            )),
        ),
        Action::OauthExchange => op(
            "The one-shot connection: a code from Embedded Signup's popup (with `embeddedSignup`, the popup's message) or from the redirect dialog.",
            vec![],
            Some(body(
                &["state"],
                json!({
                    "code": string(), "state": id_schema("state"), "wabaId": id_schema("wabaId"),
                    "embeddedSignup": object(&["event"], json!({ "event": string(), "data": { "type": "object" } })),
                }),
            )),
            ok(success(
                &["message", "wabaId", "phoneCount", "phones"],
                json!({
                    "message": string(), "wabaId": string(), "phoneCount": { "type": "integer" },
                    "phones": list(schema("ConnectedPhone")),
                }),
            )),
        ),
        Action::CallerStatus | Action::OrganizationStatus => {
            op("The connection's state, per phone, with what a person must do.", vec![], None, ok(schema("Status")))
        }
        Action::ListEvents => {
            op("The event trail, newest first.", paged(), None, ok(page_of("events", schema("ConnectionEvent"))))
        }
        Action::CallerDisconnect | Action::OrganizationDisconnect => op(
            "Disconnect: phones inactive, tokens and PINs erased, the app unsubscribed unless the WABA is shared.",
            vec![],
            None,
            ok(success(&["message"], json!({ "message": string() }))),
        ),
        Action::SendMessage => op(
            "Send a text, an approved template, or Meta's message object of any type (`message`) to a phone number (`to`) or a business-scoped user ID (`recipient`).",
            vec![],
            Some(json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "to": string(), "recipient": string(), "text": string(), "phoneNumberId": id_schema("phoneNumberId"),
                    "template": body(&["name", "language"], json!({ "name": string(), "language": string(), "components": { "type": "array" } })),
                    "message": {
                        "type": "object",
                        "description": "Meta's message object for POST /{phone-number-id}/messages (type, its object, context for a reply), without the addressee: sent as it is.",
                        "properties": { "type": { "enum": ["text", "image", "video", "audio", "document", "sticker", "location", "contacts", "interactive", "reaction", "template"] } },
                    },
                },
                "oneOf": [{ "required": ["to"] }, { "required": ["recipient"] }],
            })),
            ok(success(&["messageId"], json!({ "messageId": string() }))),
        ),
        Action::MarkRead => op(
            "Mark a received message read (blue ticks for the customer, and for the chat's earlier messages), with a typing indicator if asked.",
            vec![],
            Some(
                json!({ "type": "object", "additionalProperties": false, "properties": { "typing": { "type": "boolean" } } }),
            ),
            ok(success(&[], json!({}))),
        ),
        Action::ListMessages => op(
            "Received and sent messages and delivery statuses, newest first.",
            paged(),
            None,
            ok(page_of("messages", schema("Message"))),
        ),
        Action::ListTemplates => {
            let mut status = query("status", false, "Only templates in this status, e.g. APPROVED.");
            status["schema"] = json!({ "type": "string", "pattern": "^[A-Za-z_]{1,32}$" });
            let mut params = vec![status];
            params.extend(paged());
            op("The WABA's message templates from Meta.", params, None, ok(page_of("templates", schema("Template"))))
        }
        Action::RegisterPhone => op(
            "Register a number with its two-step verification PIN, or retry a pending or failed registration (no body).",
            vec![],
            Some(body(&[], json!({ "pin": { "type": "string", "pattern": "^[0-9]{6}$" } }))),
            vec![
                (200, Some(success(&["phone"], json!({ "phone": schema("Phone") })))),
                (202, Some(success(&["phone"], json!({ "phone": schema("Phone") })))),
            ],
        ),
        Action::RequestVerificationCode => op(
            "Have Meta send a verification code (SMS or voice call) to a number it has not verified.",
            vec![],
            Some(body(
                &["method"],
                json!({
                    "method": { "enum": ["SMS", "VOICE"] },
                    "language": { "type": "string", "pattern": "^[A-Za-z_]{2,7}$", "description": "Default en_US." },
                }),
            )),
            ok(success(&["message", "phone"], json!({ "message": string(), "phone": schema("Phone") }))),
        ),
        Action::VerifyCode => op(
            "Verify a number with the code Meta sent to it; the number is then registered at once.",
            vec![],
            Some(body(&["code"], json!({ "code": { "type": "string", "pattern": "^[ -]*([0-9][ -]*){4,8}$" } }))),
            vec![
                (200, Some(success(&["phone"], json!({ "phone": schema("Phone") })))),
                (202, Some(success(&["phone"], json!({ "phone": schema("Phone") })))),
            ],
        ),
        Action::ListContacts => op(
            "The contacts of the organization's coexistence numbers, as the WhatsApp Business app synced them.",
            paged(),
            None,
            ok(page_of("contacts", schema("Contact"))),
        ),
        Action::GetMedia => op(
            "A file a customer sent, byte for byte with Meta's Content-Type (in AWS a redirect to a presigned URL valid five minutes); fetched now if it was not yet.",
            vec![],
            None,
            vec![(200, None), (302, None)],
        ),
        Action::UploadMedia => op(
            "Upload a file (the body, with its Content-Type) to Meta for a number to send: 413 media_too_large and 415 unsupported_media_type before Meta is called.",
            vec![
                query("phoneNumberId", true, "The number that sends it."),
                query("upload", false, "An uploadId from …/media/uploads, instead of a body."),
            ],
            None,
            vec![(
                201,
                Some(success(
                    &["mediaId", "type", "mimeType", "size"],
                    json!({ "mediaId": string(), "type": string(), "mimeType": string(), "size": { "type": "integer" } }),
                )),
            )],
        ),
        Action::CreateMediaUpload => op(
            "An upload URL for a file larger than a request may carry (in AWS, the bucket's, presigned for 15 minutes): PUT the file there, then POST …/media?upload={uploadId}.",
            vec![],
            Some(json!({
                "type": "object", "required": ["mimeType", "size"], "additionalProperties": false,
                "properties": {
                    "mimeType": { "enum": crate::media::mime_types() },
                    "size": { "type": "integer", "minimum": 1, "maximum": crate::media::MAX_FILE },
                },
            })),
            vec![(
                201,
                Some(success(
                    &["uploadId", "uploadUrl", "method", "contentType"],
                    json!({ "uploadId": string(), "uploadUrl": string(), "method": { "const": "PUT" }, "contentType": string() }),
                )),
            )],
        ),
        Action::GraphGet
        | Action::GraphPost
        | Action::GraphDelete
        | Action::GraphItemGet
        | Action::GraphItemPost
        | Action::GraphItemDelete => op(
            "Meta's Graph API on the organization's phone or WABA, for the edges a business manages in WhatsApp Manager (business profile, QR codes, blocked users, conversational automation, commerce settings, templates, phone numbers): the query and body as given, Meta's answer as Meta gave it.",
            vec![],
            match action {
                Action::GraphPost | Action::GraphItemPost | Action::GraphDelete => {
                    Some(json!({ "type": "object", "description": "Meta's body for the edge." }))
                }
                _ => None,
            },
            {
                let refused = json!({ "anyOf": [schema("Error"), schema("GraphRefusal")] });
                vec![
                    (200, Some(json!({ "type": "object", "description": "Meta's answer, as Meta gave it." }))),
                    (400, Some(refused.clone())),
                    (404, Some(refused)),
                ]
            },
        ),
        Action::CreateEventEndpoint => op(
            "Add an endpoint the organization's events are delivered to (Standard Webhooks); its signing secret is shown only in this answer.",
            vec![],
            Some(json!({
                "type": "object", "required": ["url"], "additionalProperties": false,
                "properties": {
                    "url": { "type": "string", "format": "uri", "description": "https:// and public (http:// and private addresses only where EVENT_ENDPOINTS_ALLOW_PRIVATE allows)." },
                    "types": { "type": "array", "minItems": 1, "items": schema("EventType"), "description": "Left out: every type." },
                },
            })),
            vec![(201, Some(success(&["data"], json!({ "data": schema("NewEventEndpoint") }))))],
        ),
        Action::ListEventEndpoints => op(
            "The organization's event endpoints (never their secrets).",
            vec![],
            None,
            ok(success(&["endpoints"], json!({ "endpoints": list(schema("EventEndpoint")) }))),
        ),
        Action::DeleteEventEndpoint => {
            op("Remove an event endpoint: nothing more is delivered to it.", vec![], None, ok(success(&[], json!({}))))
        }
        Action::ListDeliveries => op(
            "An endpoint's deliveries, newest first: attempts, the last answer, and what comes next.",
            paged(),
            None,
            ok(page_of("deliveries", schema("Delivery"))),
        ),
        Action::CreateOnboardingLink => op(
            "Create an onboarding link: the customer connects WhatsApp on the hosted page it opens. Its URL is shown only in this answer; the organization's other active links are revoked.",
            vec![],
            Some(json!({
                "type": "object", "additionalProperties": false,
                "properties": {
                    "successUrl": { "type": "string", "format": "uri", "description": "https:// (http:// where EVENT_ENDPOINTS_ALLOW_PRIVATE allows): where the page sends the customer once connected, with `organizationId` and `status` (`connected`, or `pending` while a PIN or code is needed)." },
                    "failureUrl": { "type": "string", "format": "uri", "description": "Where the page sends the customer when the connect failed, with `error`." },
                    "featureType": { "enum": ["whatsapp_business_app_onboarding"], "description": "Embedded Signup's flow, as init-oauth's." },
                    "expiresInDays": { "type": "integer", "minimum": 1, "maximum": 30, "description": "Default 7." },
                },
            })),
            vec![(201, Some(success(&["data"], json!({ "data": schema("NewOnboardingLink") }))))],
        ),
        Action::ListOnboardingLinks => op(
            "The organization's onboarding links, newest first (never their token or URL).",
            vec![],
            None,
            ok(success(&["links"], json!({ "links": list(schema("OnboardingLink")) }))),
        ),
        Action::RevokeOnboardingLink => op(
            "Revoke an onboarding link: it opens nothing from now on (a used link stays used).",
            vec![],
            None,
            ok(success(&[], json!({}))),
        ),
        Action::LinkPage => op(
            "The hosted page of an onboarding link (HTML); 410 with a page saying why for a link that is unknown, expired, revoked or used.",
            vec![],
            None,
            vec![(200, None), (410, None)],
        ),
        Action::LinkSession => op(
            "What the hosted page opens Embedded Signup with: an OAuth state issued to the link, for its organization.",
            vec![],
            None,
            ok(success(
                &["organization", "embeddedSignup", "state", "expiresAt"],
                json!({
                    "organization": object(&["name"], json!({ "name": string() })),
                    "embeddedSignup": { "type": "object" }, "state": string(), "expiresAt": string(),
                }),
            )),
        ),
        Action::LinkComplete => op(
            "The hosted page's connect: the one-shot route's work for the link's organization, with `redirectUrl` (the link's successUrl; on an error its failureUrl, in the error's body). The link is then used.",
            vec![],
            Some(body(
                &["state"],
                json!({ "code": nullable("string"), "state": id_schema("state"), "embeddedSignup": { "type": "object" } }),
            )),
            ok(success(
                &["wabaId", "phoneCount", "phones"],
                json!({
                    "message": string(), "wabaId": string(), "phoneCount": { "type": "integer" },
                    "phones": list(schema("ConnectedPhone")), "redirectUrl": string(),
                }),
            )),
        ),
        Action::LinkRegisterPhone | Action::LinkRequestVerificationCode | Action::LinkVerifyCode => {
            let mut same = operation(match action {
                Action::LinkRegisterPhone => Action::RegisterPhone,
                Action::LinkRequestVerificationCode => Action::RequestVerificationCode,
                _ => Action::VerifyCode,
            });
            same.summary = "As the organization's route of the same name, for the link's organization; for an hour after the link was used. Once the number is registered, the answer carries `redirectUrl`.";
            for (_, body) in &mut same.answers {
                if let Some(body) = body {
                    body["properties"]["redirectUrl"] = string();
                }
            }
            same
        }
        Action::WebhookVerify => op(
            "Meta's subscription check: the challenge, as plain text, when the verify token matches.",
            vec![
                query("hub.mode", true, "`subscribe`."),
                query("hub.verify_token", true, "WEBHOOK_VERIFY_TOKEN."),
                query("hub.challenge", true, "Echoed back."),
            ],
            None,
            vec![(200, None)],
        ),
        Action::WebhookEvent => op(
            "Meta's notifications, signed (`X-Hub-Signature-256`); every entry and change is routed and stored once.",
            vec![],
            Some(
                json!({ "type": "object", "description": "A WhatsApp Business Account notification, as Meta sends it." }),
            ),
            ok(success(
                &["outcome"],
                json!({ "outcome": object(
                    &["stored", "duplicates", "rejected", "unrouted", "lifecycle", "contacts", "ignored"],
                    json!({
                        "stored": { "type": "integer" }, "duplicates": { "type": "integer" }, "rejected": { "type": "integer" },
                        "unrouted": { "type": "integer" }, "lifecycle": { "type": "integer" }, "contacts": { "type": "integer" },
                        "ignored": { "type": "integer" },
                    }),
                ) }),
            )),
        ),
    }
}

/// What an answer hands to the routes that follow it, for clients and stateful testing: a
/// new organization's id to every route under it, a state from init-oauth to the routes
/// that take one.
fn links_from(action: Action) -> Map<String, Value> {
    let (parameter, value, takes): (&str, &str, fn(&Route) -> bool) = match action {
        Action::CreateOrganization => ("organizationId", "$response.body#/data/id", |route| {
            route.path.contains("{organizationId}") && route.action != Action::CreateOrganization
        }),
        Action::InitOauth => ("state", "$response.body#/state", |route| route.action == Action::Callback),
        _ => return Map::new(),
    };
    ROUTES
        .iter()
        .filter(|route| takes(route))
        .map(|route| {
            let id = operation_id(route.action);
            let mut parameters = Map::new();
            parameters.insert(parameter.to_owned(), json!(value));
            if action == Action::InitOauth {
                // init-oauth's organization is its own path's.
                parameters.insert("organizationId".to_owned(), json!("$request.path.organizationId"));
                parameters.retain(|name, _| name == "state" || route.path.contains(&format!("{{{name}}}")));
            }
            (format!("{id}Link"), json!({ "operationId": id, "parameters": parameters }))
        })
        .collect()
}

fn operation_id(action: Action) -> String {
    let name = format!("{action:?}");
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

fn path_item(route: &Route) -> Value {
    let Operation { summary, query, body, answers } = operation(route.action);
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": id_schema(name) }))
        .collect();
    parameters.extend(query);
    let mut responses = Map::new();
    for (status, body) in answers {
        let description = match status {
            201 => "Created.",
            202 => "Accepted: Meta asked to wait; retried later.",
            400 | 404 => "Refused: this service's error, or Meta's refusal as Meta gave it.",
            302 if route.action == Action::Callback => {
                "A redirect to FRONTEND_URL with `state` (the new one), or with `error` (its code, and the state when \
                 one came) when the person declined, the state is unusable or the code was refused."
            }
            _ => "Success.",
        };
        let response = match body {
            Some(schema) => {
                json!({ "description": description, "content": { "application/json": { "schema": schema } } })
            }
            None if route.action == Action::WebhookVerify => {
                json!({ "description": "The challenge.", "content": { "text/plain": { "schema": string() } } })
            }
            None if route.action == Action::LinkPage => json!({
                "description": if status == 410 { "A page saying why the link opens nothing." } else { "The hosted page." },
                "content": { "text/html": { "schema": string() } },
            }),
            None if route.action == Action::GetMedia && status == 200 => json!({
                "description": "The file.",
                "content": crate::media::mime_types()
                .into_iter()
                .map(|mime| (mime.to_owned(), json!({ "schema": { "type": "string", "contentMediaType": mime } })))
                .collect::<Map<String, Value>>(),
            }),
            None if status == 302 => json!({
                "description": if route.action == Action::GetMedia { "A redirect to the file (a presigned URL)." } else { description },
                "headers": { "Location": { "required": true, "schema": { "type": "string", "format": "uri" } } },
            }),
            None => json!({ "description": description }),
        };
        responses.insert(status.to_string(), response);
    }
    responses.insert("default".into(), json!({ "$ref": "#/components/responses/Error" }));
    let links = links_from(route.action);
    if !links.is_empty() {
        let success = responses.iter_mut().find(|(status, _)| status.starts_with('2')).map(|(_, answer)| answer);
        if let Some(answer) = success {
            answer["links"] = Value::Object(links);
        }
    }
    let mut op = json!({
        "operationId": operation_id(route.action),
        "summary": summary,
        "tags": [route.function.binary()],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(schema) = body {
        let optional = matches!(
            route.action,
            Action::RegisterPhone
                | Action::LinkRegisterPhone
                | Action::MarkRead
                | Action::GraphPost
                | Action::GraphItemPost
                | Action::GraphDelete
        );
        op["requestBody"] = json!({ "required": !optional, "content": { "application/json": { "schema": schema } } });
    }
    if route.action == Action::UploadMedia {
        op["requestBody"] = json!({
            "required": false,
            "description": "The file, with its Content-Type; or none with `upload`.",
            "content": { "*/*": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } } },
        });
    }
    op["security"] = match route.auth {
        Auth::Jwt => json!([{ "jwt": [] }]),
        Auth::None | Auth::Link | Auth::MetaSignature => json!([]),
    };
    if route.gateway == Gateway::FunctionUrl {
        op["servers"] = json!([{ "url": "{webhookUrl}", "variables": { "webhookUrl": { "default": "http://127.0.0.1:3000", "description": "The webhook function's URL (locally the stack)." } } }]);
    }
    op
}

fn components() -> Value {
    let phone = object(
        &[
            "id",
            "phoneNumberId",
            "wabaId",
            "displayPhone",
            "isActive",
            "mode",
            "registration",
            "canSend",
            "health",
            "healthReasons",
            "verifiedAt",
            "createdAt",
        ],
        json!({
            "id": string(), "phoneNumberId": string(), "wabaId": string(), "displayPhone": string(),
            "verifiedName": nullable("string"), "isActive": { "type": "boolean" }, "mode": schema("Mode"),
            "registration": schema("Registration"), "registrationReason": nullable("string"), "canSend": { "type": "boolean" },
            "health": { "enum": ["ok", "needs_reauthorization", "restricted", "banned", "disconnected"] },
            "healthReasons": list(object(&["code", "message", "since"], json!({ "code": string(), "message": string(), "since": string(), "until": string() }))),
            "checkedAt": nullable("string"), "qualityRating": nullable("string"), "qualityEvent": nullable("string"),
            "messagingLimit": nullable("string"), "nameStatus": nullable("string"),
            "tokenKind": { "enum": ["business", "user", null] }, "tokenExpiresAt": nullable("string"),
            "verifiedAt": string(), "createdAt": string(), "registrationPossibleAfter": string(),
            "sync": object(&["contacts", "history"], json!({
                "contacts": schema("SyncState"), "history": schema("SyncState"),
                "contactsReason": string(), "historyReason": string(),
            })),
        }),
    );
    let whatsapp = object(
        &["connected", "canSend", "wabaId", "phoneNumbers"],
        json!({ "connected": { "type": "boolean" }, "canSend": { "type": "boolean" }, "wabaId": nullable("string"), "phoneNumbers": list(schema("Phone")) }),
    );
    let organization = object(
        &["id", "name", "ownerId", "settings", "agentSettings", "createdAt", "updatedAt", "whatsapp"],
        json!({
            "id": string(), "name": string(), "description": nullable("string"), "industry": nullable("string"),
            "website": nullable("string"), "ownerId": string(), "settings": { "type": "object" },
            "agentSettings": { "type": "object" }, "createdAt": string(), "updatedAt": string(), "whatsapp": whatsapp,
        }),
    );
    let mut status = success(
        &["organizationId", "connected", "canSend", "wabaId", "phoneNumbers"],
        json!({
            "organizationId": string(), "connected": { "type": "boolean" }, "canSend": { "type": "boolean" },
            "wabaId": nullable("string"), "action": nullable("string"), "phoneNumbers": list(schema("Phone")),
        }),
    );
    status["description"] =
        json!("`connected`: a phone is active; `canSend`: one can send now; `action`: what a person must do.");
    let message = object(
        &["id", "kind", "direction", "messageId", "phoneNumberId", "wabaId", "timestamp"],
        json!({
            "id": string(), "kind": { "enum": ["message", "status", "rejected"] }, "direction": { "enum": ["inbound", "outbound"] },
            "messageId": string(), "phoneNumberId": string(), "wabaId": string(),
            "from": nullable("string"), "to": nullable("string"), "userId": nullable("string"),
            "parentUserId": nullable("string"), "username": nullable("string"), "contactName": nullable("string"),
            "type": nullable("string"), "text": nullable("string"), "status": nullable("string"), "reason": nullable("string"),
            "error": { "oneOf": [{ "type": "null" }, object(&["code"], json!({
                "code": { "type": "integer" }, "title": nullable("string"), "message": nullable("string"), "details": nullable("string"),
            }))] },
            "timestamp": string(),
            "history": { "type": "boolean", "description": "Imported from a coexistence number's chat history." },
            "source": { "enum": ["business_app", null], "description": "`business_app`: sent from the WhatsApp Business app (an echo)." },
            "system": { "oneOf": [{ "type": "null" }, object(&["type"], json!({
                "type": string(), "previousWaId": string(), "waId": string(), "previousUserId": string(), "userId": string(),
            }))] },
            "content": { "type": ["object", "array", "null"], "description": "The message's own object (`type`'s), as Meta sent it or as it was sent." },
            "media": { "oneOf": [{ "type": "null" }, object(&["id", "mimeType", "sha256", "status"], json!({
                "id": string(), "mimeType": string(), "sha256": string(),
                "status": { "enum": ["pending", "stored", "failed"] },
                "size": { "type": "integer" }, "reason": string(),
            }))], "description": "A received file: GET …/whatsapp/media/{id} serves it once stored." },
        }),
    );
    let endpoint_properties = json!({
        "id": string(), "url": string(), "types": { "oneOf": [{ "type": "null" }, list(schema("EventType"))] },
        "createdAt": string(), "status": { "enum": ["active", "disabled"] }, "failingSince": nullable("string"),
        "disabledAt": string(), "disabledReason": string(),
    });
    let endpoint = object(&["id", "url", "types", "createdAt", "status"], endpoint_properties.clone());
    let mut new_endpoint_properties = endpoint_properties;
    new_endpoint_properties["secret"] = json!({ "type": "string", "pattern": "^whsec_[A-Za-z0-9+/=]+$", "description": "Shown only here: verify each delivery's `webhook-signature` with it." });
    let new_endpoint = object(&["id", "url", "types", "createdAt", "status", "secret"], new_endpoint_properties);
    let delivery = object(
        &["eventId", "type", "attempts", "lastStatus", "failed"],
        json!({
            "eventId": string(), "type": schema("EventType"), "attempts": { "type": "integer" },
            "lastStatus": { "type": ["integer", "null"], "description": "The endpoint's HTTP status; null when it did not answer." },
            "lastError": nullable("string"), "nextAttemptAt": nullable("string"), "deliveredAt": nullable("string"),
            "failed": { "type": "boolean", "description": "Retried for a day without success: given up." },
        }),
    );
    let contact_change = object(
        &["phoneNumberId", "phone", "name", "updatedAt", "removed"],
        json!({ "phoneNumberId": string(), "phone": string(), "name": nullable("string"), "updatedAt": string(), "removed": { "type": "boolean" } }),
    );
    let contact = object(
        &["phoneNumberId", "phone", "name", "updatedAt"],
        json!({ "phoneNumberId": string(), "phone": string(), "name": nullable("string"), "updatedAt": string() }),
    );
    let event = object(
        &["id", "at", "kind", "reason", "source"],
        json!({
            "id": string(), "at": string(), "kind": string(), "wabaId": string(), "phoneNumberId": string(),
            "from": string(), "to": string(), "reason": string(), "source": { "enum": ["api", "webhook", "sweep"] },
            "onboardingLinkId": { "type": "string", "description": "The onboarding link the connect came through." },
        }),
    );
    let link_properties = json!({
        "id": string(), "status": { "enum": ["active", "expired", "revoked", "used"] }, "createdAt": string(),
        "expiresAt": string(), "usedAt": string(), "revokedAt": string(),
        "featureType": { "enum": ["whatsapp_business_app_onboarding"] },
    });
    let link = object(&["id", "status", "createdAt", "expiresAt"], link_properties);
    let new_link = object(
        &["id", "url", "expiresAt", "status"],
        json!({
            "id": string(), "url": { "type": "string", "description": "{PUBLIC_BASE_URL}/connect/{token}: shown only here." },
            "expiresAt": string(), "status": { "const": "active" },
        }),
    );
    let connected_phone = object(
        &["id", "display", "mode", "registration", "canSend"],
        json!({
            "id": string(), "display": string(), "mode": schema("Mode"), "registration": schema("Registration"),
            "registrationReason": nullable("string"), "canSend": { "type": "boolean" },
        }),
    );
    let template = object(
        &["name", "language", "status"],
        json!({ "id": nullable("string"), "name": string(), "language": string(), "status": string(), "category": nullable("string"), "components": { "type": "array" } }),
    );
    let error = object(
        &["success", "code", "message"],
        json!({ "success": { "const": false }, "code": { "enum": ERROR_CODES }, "message": string(), "action": string() }),
    );
    json!({
        "schemas": {
            "Error": error,
            "Mode": { "enum": ["cloud_api", "coexistence"] },
            "Registration": { "enum": ["registered", "not_required", "pin_required", "verification_required", "pending", "failed"] },
            "SyncState": { "enum": ["not_requested", "requested", "complete", "declined", "failed"] },
            "Contact": contact,
            "ContactChange": contact_change,
            "EventType": { "enum": crate::events::EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>() },
            "EventEndpoint": endpoint,
            "NewEventEndpoint": new_endpoint,
            "Delivery": delivery,
            "Phone": phone,
            "Organization": organization,
            "OrganizationAnswer": success(&["data"], json!({ "data": schema("Organization") })),
            "Status": status,
            "Message": message,
            "ConnectionEvent": event,
            "Template": template,
            "GraphRefusal": object(&["error"], json!({ "error": object(&["message", "type", "code"], json!({
                "message": string(), "type": string(), "code": { "type": "integer" }, "error_subcode": { "type": "integer" },
                "error_data": { "type": "object" }, "fbtrace_id": string(),
            })) })),
            "OnboardingLink": link,
            "NewOnboardingLink": new_link,
            "ConnectedPhone": connected_phone,
        },
        "responses": {
            "Error": {
                "description": "An error: a real status code, a stable `code`, and an `action` saying what to do.",
                "content": { "application/json": { "schema": schema("Error") } },
            },
        },
        "securitySchemes": {
            "jwt": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "Your identity provider's JWT, validated by API Gateway's authorizer (locally HS256 with LOCAL_JWT_SECRET). The caller is `sub`; ORG_CLAIM names their organization.",
            },
        },
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths.entry(route.path.to_owned()).or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = path_item(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "waba-connect",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Connect your customers' WhatsApp Business Accounts through Meta's Embedded Signup, keep their tokens safe and their connections healthy, route Meta's webhooks and send messages.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "http://127.0.0.1:3000", "description": "The local stack (`cargo run`); in AWS, the ApiUrl output." }],
        "paths": paths,
        "webhooks": webhooks(),
        "components": components(),
    })
}

/// The events this service delivers to an organization's endpoints, one per type: what each
/// request carries, and the Standard Webhooks headers that sign it.
fn webhooks() -> Value {
    let mut all = Map::new();
    for kind in crate::events::EventType::ALL {
        let body = object(
            &["id", "type", "version", "createdAt", "organizationId", "data"],
            json!({
                "id": { "type": "string", "description": "The same on every attempt; also the `webhook-id` header." },
                "type": { "const": kind.as_str() },
                "version": { "const": crate::events::EVENT_VERSION },
                "createdAt": string(), "organizationId": string(), "data": schema(kind.data_schema()),
            }),
        );
        let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": string() });
        all.insert(
            kind.as_str().to_owned(),
            json!({ "post": {
                "operationId": format!("event_{}", kind.as_str().replace('.', "_")),
                "summary": format!("The `{}` event, delivered to an event endpoint.", kind.as_str()),
                "parameters": [
                    header("webhook-id", "The event's id: the same on every attempt, so a consumer can drop a repeat."),
                    header("webhook-timestamp", "When this attempt was made, in Unix seconds."),
                    header("webhook-signature", "`v1,` and the base64 HMAC-SHA256, under the endpoint's secret (the bytes after `whsec_`, base64-decoded), of `{webhook-id}.{webhook-timestamp}.{body}`."),
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                "responses": { "2XX": { "description": "Delivered. Anything else, or no answer within 10 seconds, is retried." } },
            } }),
        );
    }
    Value::Object(all)
}

/// The document as `openapi.json` keeps it: pretty-printed, with a final newline.
pub fn text() -> String {
    serde_json::to_string_pretty(&document()).expect("the document serializes") + "\n"
}
