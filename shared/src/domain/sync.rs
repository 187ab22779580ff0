//! A coexistence number's two one-time syncs: after a WhatsApp Business app number is
//! onboarded, Meta lets the partner ask once for the business's contacts and once for its
//! chat history (`POST /{phone}/smb_app_data`), within 24 hours of the onboarding.

use crate::clock::Timestamp;
use serde::Serialize;

/// How long after an onboarding Meta accepts a sync request (2593108 after that).
pub const SYNC_WINDOW_SECONDS: i64 = 24 * 3600;

/// The two things Meta syncs, in the order they are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncKind {
    /// The app's contacts (`sync_type: smb_app_state_sync`).
    Contacts,
    /// Up to 180 days of chats (`sync_type: history`).
    History,
}

impl SyncKind {
    pub const ALL: [SyncKind; 2] = [SyncKind::Contacts, SyncKind::History];

    /// Meta's `sync_type`.
    pub fn sync_type(self) -> &'static str {
        match self {
            SyncKind::Contacts => "smb_app_state_sync",
            SyncKind::History => "history",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Contacts => "contacts",
            SyncKind::History => "history",
        }
    }
}

/// Where one sync stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Not asked for yet (or asked and refused with a rate limit, which Meta did not take).
    NotRequested,
    /// Meta took the request; its webhooks follow.
    Requested,
    /// Everything arrived (history at progress 100; contacts once Meta's first batch came).
    Complete,
    /// The business declined to share its history in the app (2593109).
    Declined,
    /// Meta refused, or may have taken the request without saying: it is not asked again.
    Failed { reason: String },
}

impl SyncState {
    pub fn as_str(&self) -> &'static str {
        match self {
            SyncState::NotRequested => "not_requested",
            SyncState::Requested => "requested",
            SyncState::Complete => "complete",
            SyncState::Declined => "declined",
            SyncState::Failed { .. } => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            SyncState::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    pub fn from_parts(status: &str, reason: Option<String>) -> Option<Self> {
        Some(match status {
            "not_requested" => SyncState::NotRequested,
            "requested" => SyncState::Requested,
            "complete" => SyncState::Complete,
            "declined" => SyncState::Declined,
            "failed" => SyncState::Failed { reason: reason.unwrap_or_default() },
            _ => return None,
        })
    }
}

/// A coexistence number's syncs, counted from the onboarding they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoexistenceSync {
    pub contacts: SyncState,
    pub history: SyncState,
}

impl CoexistenceSync {
    /// A fresh onboarding: both syncs may be asked for once.
    pub fn fresh() -> Self {
        Self { contacts: SyncState::NotRequested, history: SyncState::NotRequested }
    }

    pub fn get(&self, kind: SyncKind) -> &SyncState {
        match kind {
            SyncKind::Contacts => &self.contacts,
            SyncKind::History => &self.history,
        }
    }

    pub fn get_mut(&mut self, kind: SyncKind) -> &mut SyncState {
        match kind {
            SyncKind::Contacts => &mut self.contacts,
            SyncKind::History => &mut self.history,
        }
    }

    /// Whether a sync still waits to be asked for (what the table's stream and the sweep
    /// look for).
    pub fn is_due(&self) -> bool {
        SyncKind::ALL.iter().any(|k| *self.get(*k) == SyncState::NotRequested)
    }

    pub fn view(&self) -> SyncView<'_> {
        SyncView {
            contacts: self.contacts.as_str(),
            history: self.history.as_str(),
            contacts_reason: self.contacts.reason(),
            history_reason: self.history.reason(),
        }
    }
}

/// Whether a sync may still be asked for at `now`, for an onboarding at `onboarded_at`.
pub fn within_window(onboarded_at: Timestamp, now: Timestamp) -> bool {
    now.0 < onboarded_at.0 + SYNC_WINDOW_SECONDS
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncView<'a> {
    pub contacts: &'static str,
    pub history: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_reason: Option<&'a str>,
}
