//! A WhatsApp Business app number's one-time syncs: `POST /{phone}/smb_app_data`
//! `{messaging_product, sync_type: smb_app_state_sync|history}`. Meta takes each once per
//! onboarding (2593107 after that) and only within 24 hours of it (2593108), answers with a
//! request id, and sends what it syncs as webhooks (`smb_app_state_sync`, `history`).

use http::Method;
use serde_json::{Value, json};

use super::super::seed::Phone;
use super::super::state::{SYNC_WINDOW_SECS, unix_now};
use super::{Call, GraphError};
use crate::sandbox::Sandbox;

pub(in crate::sandbox) const SYNC_TYPES: [&str; 2] = ["smb_app_state_sync", "history"];

impl Sandbox {
    pub(super) fn smb_app_data(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if *call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        match call.params.get("messaging_product") {
            Some("whatsapp") => {}
            None => return Err(GraphError::required("messaging_product")),
            Some(_) => return Err(GraphError::invalid_parameter("Param messaging_product must be whatsapp.")),
        }
        let sync_type = call.params.get("sync_type").ok_or_else(|| GraphError::required("sync_type"))?;
        let Some(sync_type) = SYNC_TYPES.into_iter().find(|t| *t == sync_type) else {
            return Err(GraphError::invalid_parameter("Param sync_type must be one of {smb_app_state_sync, history}."));
        };
        if !phone.coexistence {
            return Err(GraphError::invalid_parameter(
                "This phone number is not onboarded from the WhatsApp Business app; there is no app data to sync.",
            ));
        }
        let now = unix_now();
        {
            let mut state = self.lock();
            let number = state.number(phone);
            let onboarded = number.onboarded_at.filter(|at| now - at < SYNC_WINDOW_SECS);
            if onboarded.is_none() {
                tracing::info!(phone = phone.id, sync_type, "meta sandbox: a sync outside its 24 hours");
                return Err(GraphError::oauth(
                    2_593_108,
                    "(#2593108) Synchronization request made outside of allowed time window",
                )
                .with_details("The sync request can only be made within 24 hours of onboarding."));
            }
            if number.synced.contains(&sync_type) {
                tracing::info!(phone = phone.id, sync_type, "meta sandbox: a sync asked for twice");
                return Err(GraphError::oauth(2_593_107, "(#2593107) Synchronization request limit exceeded")
                    .with_details(
                        "The maximum number of sync requests for this phone number was exceeded; offboard and \
                         onboard again to sync again.",
                    ));
            }
            number.synced.push(sync_type);
        }
        tracing::info!(phone = phone.id, sync_type, "meta sandbox: sync requested");
        self.sync_later(phone, sync_type);
        Ok(json!({ "messaging_product": "whatsapp", "request_id": super::super::state::new_trace_id() }))
    }
}
