//! The one route table. API Gateway's routes in `template.yaml`, the Lambda functions'
//! dispatch and the local stack's router are all this list; a test keeps the template equal
//! to it.

use std::collections::HashMap;

/// A deployable Lambda function (one binary under `functions/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Organizations,
    InitOauth,
    Callback,
    Accounts,
    PhoneNumbers,
    SaveConfig,
    OauthExchange,
    Status,
    Disconnect,
    Messages,
    Register,
    Webhook,
    /// The health sweep, on a schedule rather than a route.
    Health,
    /// Events to the organization's systems: the endpoints' routes, the table's stream, the
    /// retry queue.
    Events,
    /// Onboarding links: the organization's routes for them, and the hosted page with its
    /// own routes, which the link's token authorizes.
    Connect,
    /// Media both ways: received files (fetched from the table's stream) and uploads.
    Media,
    /// The business's WhatsApp settings through the connection: a scoped Graph route.
    Graph,
}

impl Function {
    pub const ALL: [Function; 17] = [
        Function::Organizations,
        Function::InitOauth,
        Function::Callback,
        Function::Accounts,
        Function::PhoneNumbers,
        Function::SaveConfig,
        Function::OauthExchange,
        Function::Status,
        Function::Disconnect,
        Function::Messages,
        Function::Register,
        Function::Webhook,
        Function::Health,
        Function::Events,
        Function::Connect,
        Function::Media,
        Function::Graph,
    ];

    /// Whether EventBridge invokes the function on a schedule instead of a route.
    pub fn is_scheduled(self) -> bool {
        self == Function::Health
    }

    /// Whether the table's stream feeds the function (a DynamoDB event source mapping in
    /// AWS; the local stack's feed on one machine).
    pub fn follows_stream(self) -> bool {
        self.stream_filter().is_some()
    }

    /// The changes of the table's stream the function is handed, if it follows the stream.
    pub fn stream_filter(self) -> Option<crate::stream::Filter> {
        match self {
            Function::Health => Some(crate::coexistence::STREAM_FILTER),
            Function::Events => Some(crate::events::STREAM_FILTER),
            Function::Media => Some(crate::media::STREAM_FILTER),
            _ => None,
        }
    }

    /// Whether an SQS queue of the stack feeds the function (the events' retries).
    pub fn follows_queue(self) -> bool {
        self == Function::Events
    }

    /// The binary (and crate) name under `functions/`.
    pub fn binary(self) -> &'static str {
        match self {
            Function::Organizations => "organizations",
            Function::InitOauth => "init-oauth",
            Function::Callback => "callback",
            Function::Accounts => "accounts",
            Function::PhoneNumbers => "phone-numbers",
            Function::SaveConfig => "save-config",
            Function::OauthExchange => "oauth-exchange",
            Function::Status => "status",
            Function::Disconnect => "disconnect",
            Function::Messages => "messages",
            Function::Register => "register",
            Function::Webhook => "webhook",
            Function::Health => "health",
            Function::Events => "events",
            Function::Connect => "connect",
            Function::Media => "media",
            Function::Graph => "graph",
        }
    }

    /// The service's settings this function reads, of [`CONFIGURATION`]: the template gives
    /// each function these and no other, and a function missing one of them that it
    /// requires ([`REQUIRED_CONFIGURATION`]) refuses to start.
    pub fn configuration(self) -> &'static [&'static str] {
        const META: &[&str] = &["META_APP_ID", "META_GRAPH_VERSION"];
        const ISSUES_STATES: &[&str] =
            &["META_APP_ID", "META_GRAPH_VERSION", "META_REDIRECT_URI", "META_CONFIG_ID", "OAUTH_STATE_TTL_SECONDS"];
        match self {
            Function::Organizations => &["MAX_ORGANIZATIONS_PER_USER"],
            Function::InitOauth | Function::Connect => ISSUES_STATES,
            Function::Callback => &["META_APP_ID", "META_GRAPH_VERSION", "FRONTEND_URL"],
            Function::OauthExchange | Function::Disconnect => &["META_APP_ID", "META_GRAPH_VERSION", "ORG_CLAIM"],
            Function::Status => &["ORG_CLAIM"],
            Function::Webhook => &["WEBHOOK_VERIFY_TOKEN"],
            Function::Events => &[],
            Function::Accounts
            | Function::PhoneNumbers
            | Function::SaveConfig
            | Function::Messages
            | Function::Register
            | Function::Health
            | Function::Media
            | Function::Graph => META,
        }
    }

    /// Refuses to start a function without a setting it requires, naming it, rather than
    /// failing its first request.
    pub fn check_configuration(self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        match self
            .configuration()
            .iter()
            .find(|name| REQUIRED_CONFIGURATION.contains(name) && get(name).is_none_or(|v| v.trim().is_empty()))
        {
            Some(missing) => Err(format!("{missing} is required by the {} function", self.binary())),
            None => Ok(()),
        }
    }
}

/// The settings that differ between functions (the table's name and each function's own
/// resources aside): each goes only to the functions that read it.
pub const CONFIGURATION: [&str; 9] = [
    "META_APP_ID",
    "META_GRAPH_VERSION",
    "META_REDIRECT_URI",
    "META_CONFIG_ID",
    "FRONTEND_URL",
    "OAUTH_STATE_TTL_SECONDS",
    "ORG_CLAIM",
    "WEBHOOK_VERIFY_TOKEN",
    "MAX_ORGANIZATIONS_PER_USER",
];

/// Those of [`CONFIGURATION`] without a default.
pub const REQUIRED_CONFIGURATION: [&str; 3] = ["META_APP_ID", "META_REDIRECT_URI", "FRONTEND_URL"];

/// What a route does; a function serving several routes dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    CreateOrganization,
    GetOrganization,
    UpdateOrganization,
    UpdateSettings,
    UpdateAgentSettings,
    InitOauth,
    Callback,
    Accounts,
    PhoneNumbers,
    SaveConfig,
    OauthExchange,
    CallerStatus,
    OrganizationStatus,
    ListEvents,
    CallerDisconnect,
    OrganizationDisconnect,
    SendMessage,
    MarkRead,
    ListMessages,
    ListTemplates,
    RegisterPhone,
    RequestVerificationCode,
    VerifyCode,
    ListContacts,
    GetMedia,
    UploadMedia,
    CreateMediaUpload,
    GraphGet,
    GraphPost,
    GraphDelete,
    GraphItemGet,
    GraphItemPost,
    GraphItemDelete,
    CreateEventEndpoint,
    ListEventEndpoints,
    DeleteEventEndpoint,
    ListDeliveries,
    CreateOnboardingLink,
    ListOnboardingLinks,
    RevokeOnboardingLink,
    LinkPage,
    LinkSession,
    LinkComplete,
    LinkRegisterPhone,
    LinkRequestVerificationCode,
    LinkVerifyCode,
    WebhookVerify,
    WebhookEvent,
}

/// What carries a route to its function in AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// The HTTP API (API Gateway v2), with its JWT authorizer.
    HttpApi,
    /// The function's own Lambda Function URL (the webhook); locally at the route's path.
    FunctionUrl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A bearer JWT, validated by API Gateway's authorizer (locally: by the stack).
    Jwt,
    /// No JWT: the browser arrives from Meta and the OAuth state authenticates it.
    None,
    /// No JWT: the onboarding link's token, in the path, authenticates the customer for its
    /// organization, and for nothing else.
    Link,
    /// Meta's webhook: the verify token (GET) or the payload signature (POST) authenticates.
    MetaSignature,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub action: Action,
    pub function: Function,
    pub auth: Auth,
    pub gateway: Gateway,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /api/v1/organizations/{organizationId}`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

const fn route(method: &'static str, path: &'static str, action: Action, function: Function, auth: Auth) -> Route {
    Route { method, path, action, function, auth, gateway: Gateway::HttpApi }
}

const fn function_url(method: &'static str, path: &'static str, action: Action) -> Route {
    Route {
        method,
        path,
        action,
        function: Function::Webhook,
        auth: Auth::MetaSignature,
        gateway: Gateway::FunctionUrl,
    }
}

use Action as A;
use Function as F;

const GRAPH_EDGE: &str = "/api/v1/organizations/{organizationId}/whatsapp/graph/{objectId}/{edge}";
const GRAPH_ITEM: &str = "/api/v1/organizations/{organizationId}/whatsapp/graph/{objectId}/{edge}/{itemId}";

pub static ROUTES: &[Route] = &[
    route("POST", "/api/v1/organizations", A::CreateOrganization, F::Organizations, Auth::Jwt),
    route("GET", "/api/v1/organizations/{organizationId}", A::GetOrganization, F::Organizations, Auth::Jwt),
    route("PUT", "/api/v1/organizations/{organizationId}", A::UpdateOrganization, F::Organizations, Auth::Jwt),
    route("PUT", "/api/v1/organizations/{organizationId}/settings", A::UpdateSettings, F::Organizations, Auth::Jwt),
    route(
        "PUT",
        "/api/v1/organizations/{organizationId}/agent-settings",
        A::UpdateAgentSettings,
        F::Organizations,
        Auth::Jwt,
    ),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/init-oauth", A::InitOauth, F::InitOauth, Auth::Jwt),
    route("GET", "/api/v1/organizations/whatsapp/callback", A::Callback, F::Callback, Auth::None),
    route("GET", "/api/v1/organizations/whatsapp/accounts", A::Accounts, F::Accounts, Auth::Jwt),
    route("GET", "/api/v1/organizations/whatsapp/phone-numbers", A::PhoneNumbers, F::PhoneNumbers, Auth::Jwt),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/save-config",
        A::SaveConfig,
        F::SaveConfig,
        Auth::Jwt,
    ),
    route("POST", "/api/integrations/whatsapp/oauth", A::OauthExchange, F::OauthExchange, Auth::Jwt),
    route("GET", "/api/integrations/whatsapp/status", A::CallerStatus, F::Status, Auth::Jwt),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/status", A::OrganizationStatus, F::Status, Auth::Jwt),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/events", A::ListEvents, F::Status, Auth::Jwt),
    route("POST", "/api/integrations/whatsapp/disconnect", A::CallerDisconnect, F::Disconnect, Auth::Jwt),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/disconnect",
        A::OrganizationDisconnect,
        F::Disconnect,
        Auth::Jwt,
    ),
    route("POST", "/api/v1/organizations/{organizationId}/whatsapp/messages", A::SendMessage, F::Messages, Auth::Jwt),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/messages/{messageId}/read",
        A::MarkRead,
        F::Messages,
        Auth::Jwt,
    ),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/messages", A::ListMessages, F::Messages, Auth::Jwt),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/templates", A::ListTemplates, F::Messages, Auth::Jwt),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/phone-numbers/{phoneNumberId}/register",
        A::RegisterPhone,
        F::Register,
        Auth::Jwt,
    ),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/phone-numbers/{phoneNumberId}/request-code",
        A::RequestVerificationCode,
        F::Register,
        Auth::Jwt,
    ),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/phone-numbers/{phoneNumberId}/verify-code",
        A::VerifyCode,
        F::Register,
        Auth::Jwt,
    ),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/contacts", A::ListContacts, F::Messages, Auth::Jwt),
    route("GET", "/api/v1/organizations/{organizationId}/whatsapp/media/{mediaId}", A::GetMedia, F::Media, Auth::Jwt),
    route("POST", "/api/v1/organizations/{organizationId}/whatsapp/media", A::UploadMedia, F::Media, Auth::Jwt),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/media/uploads",
        A::CreateMediaUpload,
        F::Media,
        Auth::Jwt,
    ),
    route("GET", GRAPH_EDGE, A::GraphGet, F::Graph, Auth::Jwt),
    route("POST", GRAPH_EDGE, A::GraphPost, F::Graph, Auth::Jwt),
    route("DELETE", GRAPH_EDGE, A::GraphDelete, F::Graph, Auth::Jwt),
    route("GET", GRAPH_ITEM, A::GraphItemGet, F::Graph, Auth::Jwt),
    route("POST", GRAPH_ITEM, A::GraphItemPost, F::Graph, Auth::Jwt),
    route("DELETE", GRAPH_ITEM, A::GraphItemDelete, F::Graph, Auth::Jwt),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/event-endpoints",
        A::CreateEventEndpoint,
        F::Events,
        Auth::Jwt,
    ),
    route(
        "GET",
        "/api/v1/organizations/{organizationId}/whatsapp/event-endpoints",
        A::ListEventEndpoints,
        F::Events,
        Auth::Jwt,
    ),
    route(
        "DELETE",
        "/api/v1/organizations/{organizationId}/whatsapp/event-endpoints/{endpointId}",
        A::DeleteEventEndpoint,
        F::Events,
        Auth::Jwt,
    ),
    route(
        "GET",
        "/api/v1/organizations/{organizationId}/whatsapp/event-endpoints/{endpointId}/deliveries",
        A::ListDeliveries,
        F::Events,
        Auth::Jwt,
    ),
    route(
        "POST",
        "/api/v1/organizations/{organizationId}/whatsapp/onboarding-links",
        A::CreateOnboardingLink,
        F::Connect,
        Auth::Jwt,
    ),
    route(
        "GET",
        "/api/v1/organizations/{organizationId}/whatsapp/onboarding-links",
        A::ListOnboardingLinks,
        F::Connect,
        Auth::Jwt,
    ),
    route(
        "DELETE",
        "/api/v1/organizations/{organizationId}/whatsapp/onboarding-links/{linkId}",
        A::RevokeOnboardingLink,
        F::Connect,
        Auth::Jwt,
    ),
    route("GET", "/connect/{token}", A::LinkPage, F::Connect, Auth::Link),
    route("GET", "/connect/{token}/session", A::LinkSession, F::Connect, Auth::Link),
    route("POST", "/connect/{token}/complete", A::LinkComplete, F::Connect, Auth::Link),
    route(
        "POST",
        "/connect/{token}/phone-numbers/{phoneNumberId}/register",
        A::LinkRegisterPhone,
        F::Connect,
        Auth::Link,
    ),
    route(
        "POST",
        "/connect/{token}/phone-numbers/{phoneNumberId}/request-code",
        A::LinkRequestVerificationCode,
        F::Connect,
        Auth::Link,
    ),
    route(
        "POST",
        "/connect/{token}/phone-numbers/{phoneNumberId}/verify-code",
        A::LinkVerifyCode,
        F::Connect,
        Auth::Link,
    ),
    function_url("GET", "/webhook", A::WebhookVerify),
    function_url("POST", "/webhook", A::WebhookEvent),
];

/// The route API Gateway matched, from the request context's `routeKey`.
pub fn by_key(route_key: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.key() == route_key)
}

#[derive(Debug, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists with these methods (for the `Allow` header RFC 9110 requires).
    MethodNotAllowed(Vec<&'static str>),
}

/// Matches a method and path the way API Gateway does: literal segments win over
/// `{parameters}`; a parameter matches exactly one non-empty segment.
pub fn match_path(method: &str, path: &str) -> Result<(&'static Route, HashMap<String, String>), NoRoute> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(&'static Route, HashMap<String, String>)> = None;
    // The other methods of the most specific template the path matches (the fewest
    // parameters), for `Allow`.
    let mut allowed: Vec<(&'static str, usize)> = Vec::new();
    for route in ROUTES {
        let Some(params) = bind(route.path, &segments) else {
            continue;
        };
        if route.method != method {
            allowed.push((route.method, params.len()));
            continue;
        }
        if best.as_ref().is_none_or(|(_, p)| params.len() < p.len()) {
            best = Some((route, params));
        }
    }
    if let Some((route, params)) = best {
        return Ok((route, params));
    }
    let Some(specific) = allowed.iter().map(|(_, params)| *params).min() else {
        return Err(NoRoute::NotFound);
    };
    let mut methods: Vec<&'static str> = Vec::new();
    for (method, _) in allowed.into_iter().filter(|(_, params)| *params == specific) {
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Err(NoRoute::MethodNotAllowed(methods))
}

fn bind(pattern: &str, segments: &[&str]) -> Option<HashMap<String, String>> {
    // Every request is tried against every route: the templates that cannot match are
    // turned down without allocating.
    let parts = || pattern.split('/');
    let fits = parts().count() == segments.len()
        && parts().zip(segments).all(|(part, segment)| match parameter(part) {
            Some(_) => !segment.is_empty(),
            None => part == *segment,
        });
    if !fits {
        return None;
    }
    parts()
        .zip(segments)
        .filter_map(|(part, segment)| parameter(part).map(|name| Some((name.to_owned(), percent_decode(segment)?))))
        .collect()
}

/// The name of a `{parameter}` segment of a route's template.
fn parameter(part: &str) -> Option<&str> {
    part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
}

/// A path segment with its `%XX` escapes decoded, as API Gateway hands path parameters to
/// a function. Every other byte stands for itself (`+` and `&` included), so what the
/// handler parses is the whole segment: `{id}&x` is refused as an id, never cut to `{id}`.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_over_parameters() {
        let (route, params) = match_path("GET", "/api/v1/organizations/whatsapp/accounts").unwrap();
        assert_eq!(route.action, Action::Accounts);
        assert!(params.is_empty());
        let (route, params) = match_path("GET", "/api/v1/organizations/org_1/whatsapp/status").unwrap();
        assert_eq!(route.action, Action::OrganizationStatus);
        assert_eq!(params["organizationId"], "org_1");
    }

    #[test]
    fn parameters_are_decoded_whole() {
        let (_, params) = match_path("PUT", "/api/v1/organizations/org_1&x/settings").unwrap();
        assert_eq!(params["organizationId"], "org_1&x", "nothing after `&` is dropped");
        let (_, params) = match_path("GET", "/api/v1/organizations/org%5F1+2").unwrap();
        assert_eq!(params["organizationId"], "org_1+2");
        assert_eq!(match_path("GET", "/api/v1/organizations/org%zz").unwrap_err(), NoRoute::NotFound);
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert_eq!(match_path("GET", "/nope").unwrap_err(), NoRoute::NotFound);
        assert_eq!(
            match_path("DELETE", "/api/v1/organizations/org_1").unwrap_err(),
            NoRoute::MethodNotAllowed(vec!["GET", "PUT"])
        );
        // `uploads` could be a `{mediaId}`, but the literal template is the path's.
        assert_eq!(
            match_path("PUT", "/api/v1/organizations/org_1/whatsapp/media/uploads").unwrap_err(),
            NoRoute::MethodNotAllowed(vec!["POST"])
        );
        assert_eq!(match_path("GET", "/api/v1/organizations//whatsapp/status").unwrap_err(), NoRoute::NotFound);
    }

    #[test]
    fn every_route_key_is_unique_and_found_by_key() {
        for route in ROUTES {
            assert_eq!(by_key(&route.key()), Some(route));
        }
        let keys: std::collections::HashSet<_> = ROUTES.iter().map(Route::key).collect();
        assert_eq!(keys.len(), ROUTES.len());
    }

    #[test]
    fn only_the_callback_the_hosted_page_and_the_webhook_go_without_a_jwt() {
        let open: Vec<_> = ROUTES.iter().filter(|r| r.auth != Auth::Jwt).map(|r| r.action).collect();
        assert_eq!(
            open,
            vec![
                Action::Callback,
                Action::LinkPage,
                Action::LinkSession,
                Action::LinkComplete,
                Action::LinkRegisterPhone,
                Action::LinkRequestVerificationCode,
                Action::LinkVerifyCode,
                Action::WebhookVerify,
                Action::WebhookEvent
            ]
        );
        for route in ROUTES {
            // A link's token authorizes the hosted page's routes, all under `/connect/{token}`.
            assert_eq!(route.auth == Auth::Link, route.path.starts_with("/connect/{token}"), "{route:?}");
        }
        for route in ROUTES {
            assert_eq!(route.gateway == Gateway::FunctionUrl, route.function == Function::Webhook, "{route:?}");
        }
    }

    #[test]
    fn every_function_serves_a_route_or_a_schedule() {
        for function in Function::ALL {
            let routed = ROUTES.iter().any(|r| r.function == function);
            assert!(routed || function.is_scheduled(), "{function:?} has no trigger");
            assert!(!(routed && function.is_scheduled()), "{function:?}: a route and a schedule");
        }
    }
}
