//! Organizations — create, read, update, settings and agent settings (seed 000, steps 2
//! and 4). The caller owns what it creates; every other route checks that ownership.
//! The WhatsApp summary is derived from PhoneNumber; the organization holds no phone data.

use serde::Deserialize;
use serde_json::{Value, json};
use shared::domain::{JsonObject, Organization, OrganizationId, OrganizationName, OrganizationPatch, optional_text};
use shared::http::Caller;
use shared::onboarding::whatsapp_summary;
use shared::routes::Action;
use shared::{ApiError, App, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrganization {
    name: String,
    description: Option<String>,
    industry: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    name: Option<String>,
    description: Option<String>,
    industry: Option<String>,
    website: Option<String>,
}

pub async fn handle(app: &App, request: Request) -> Result<Response, ApiError> {
    let caller = request.caller()?;
    match request.route.action {
        Action::CreateOrganization => create(app, &caller, &request).await,
        Action::GetOrganization => {
            let organization = owned(app, &caller, &request).await?;
            present(app, &organization).await.map(|data| Response::ok(&json!({ "success": true, "data": data })))
        }
        Action::UpdateOrganization => {
            let changes: Changes = request.json()?;
            let patch = OrganizationPatch {
                name: changes.name.as_deref().map(OrganizationName::parse).transpose().map_err(ApiError::validation)?,
                description: text("description", changes.description, 2000)?,
                industry: text("industry", changes.industry, 100)?,
                website: changes.website.map(|w| website(&w)).transpose()?,
                ..OrganizationPatch::default()
            };
            update(app, &caller, &request, patch).await
        }
        Action::UpdateSettings => {
            let settings = JsonObject::parse(request.json::<Value>()?).map_err(ApiError::validation)?;
            update(
                app,
                &caller,
                &request,
                OrganizationPatch { settings: Some(settings), ..OrganizationPatch::default() },
            )
            .await
        }
        Action::UpdateAgentSettings => {
            let settings = JsonObject::parse(request.json::<Value>()?).map_err(ApiError::validation)?;
            update(
                app,
                &caller,
                &request,
                OrganizationPatch { agent_settings: Some(settings), ..OrganizationPatch::default() },
            )
            .await
        }
        other => Err(ApiError::internal(format!("organizations does not serve {other:?}"))),
    }
}

async fn create(app: &App, caller: &Caller, request: &Request) -> Result<Response, ApiError> {
    let body: NewOrganization = request.json()?;
    let name = OrganizationName::parse(&body.name).map_err(ApiError::validation)?;
    let mut organization = Organization::new(OrganizationId::generate(), caller.user.clone(), name, app.now());
    organization.description =
        optional_text("description", body.description.as_deref(), 2000).map_err(ApiError::validation)?;
    organization.industry = optional_text("industry", body.industry.as_deref(), 100).map_err(ApiError::validation)?;
    app.records.create_organization(&organization, app.config.max_organizations_per_user).await?;
    tracing::info!(organization = %organization.id, "organization created");
    let data = present(app, &organization).await?;
    Ok(Response::json(
        http::StatusCode::CREATED,
        &json!({ "success": true, "data": data, "nextStep": "/onboarding/whatsapp" }),
    ))
}

async fn owned(app: &App, caller: &Caller, request: &Request) -> Result<Organization, ApiError> {
    let id: OrganizationId = request.path("organizationId")?;
    app.owned_organization(caller, &id).await
}

async fn update(app: &App, caller: &Caller, request: &Request, patch: OrganizationPatch) -> Result<Response, ApiError> {
    let mut organization = owned(app, caller, request).await?;
    organization.apply(patch, app.now());
    let organization = app.records.update_organization(organization).await?;
    let data = present(app, &organization).await?;
    Ok(Response::ok(&json!({ "success": true, "data": data })))
}

async fn present(app: &App, organization: &Organization) -> Result<Value, ApiError> {
    let mut data = serde_json::to_value(organization.summary()).expect("summaries serialize");
    data["whatsapp"] = whatsapp_summary(app, organization).await?;
    Ok(data)
}

/// `Some(None)` clears the field (an empty string), `None` leaves it as it is.
fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<Option<String>>, ApiError> {
    value.map(|v| optional_text(field, Some(&v), max)).transpose().map_err(ApiError::validation)
}

fn website(raw: &str) -> Result<Option<String>, ApiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let url =
        url::Url::parse(trimmed).map_err(|_| ApiError::validation("`website` must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || trimmed.len() > 2048 {
        return Err(ApiError::validation("`website` must be an absolute http(s) URL"));
    }
    Ok(Some(trimmed.to_owned()))
}
