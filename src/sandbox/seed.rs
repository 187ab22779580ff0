//! The sandbox's fixed world: one Meta user, two businesses, five WhatsApp
//! Business Accounts and six phone numbers, and the app's Login for Business
//! configurations.
//!
//! Ids are deterministic numeric strings, shaped like Meta's, so tests and demo
//! scripts can name the objects. The world is chosen to exercise the
//! interesting paths: a WABA with more phones than one page holds, a WABA with a
//! single phone, a WABA with none, and the registration cases: numbers waiting to
//! be registered, one that already has a two-step verification PIN of its own,
//! one already on Cloud API, a WhatsApp Business app number (coexistence, with the
//! contacts and chat history its app syncs), and a new number Meta has not verified yet.

/// The person clicking through the consent dialog.
pub const USER_ID: &str = "10231345678901234";
pub const USER_NAME: &str = "Demo Owner";

/// The name Meta shows for the app in the dialog, `debug_token` and `subscribed_apps`.
pub const APP_NAME: &str = "Sandbox App";

pub const ACME_BUSINESS: &str = "184356712093845";
pub const BETA_BUSINESS: &str = "184356712093990";

/// "Acme Support": three phones, so listing them needs more than one page.
pub const ACME_SUPPORT_WABA: &str = "102290129340398";
pub const ACME_SUPPORT_PHONES: [&str; 3] = ["106540352242922", "106540352242947", "106540352242981"];

/// "Acme Sales": exactly one phone.
pub const ACME_SALES_WABA: &str = "102290129340355";
pub const ACME_SALES_PHONE: &str = "106540352243015";

/// "Acme Café": one number in use with the WhatsApp Business app (coexistence).
pub const ACME_CAFE_WABA: &str = "102290129340333";
pub const ACME_CAFE_PHONE: &str = "106540352243077";

/// "Beta Empty": no phone numbers at all.
pub const BETA_EMPTY_WABA: &str = "102290129340311";

/// "Acme Pop-up": one number the customer just added in Embedded Signup v4, which Meta has
/// not verified: it must be verified with a code before it can be registered.
pub const ACME_POPUP_WABA: &str = "102290129340300";
pub const ACME_POPUP_PHONE: &str = "106540352243099";

/// The two-step verification PIN "+1 555-010-0002" already has: registering it with
/// any other PIN is refused (133005) until the person enters this one.
pub const EXISTING_TWO_STEP_PIN: &str = "482913";

/// The app's Facebook Login for Business configuration for Embedded Signup v4: its
/// codes yield a business token that never expires.
pub const CONFIG_ID: &str = "1077012345678901";
/// A configuration "With 60 Expiration Token": business tokens that last 60 days.
pub const CONFIG_ID_60_DAYS: &str = "1077012345678902";

/// The business integration system user Meta creates for the app in the customer's
/// business; business tokens are its tokens.
pub const SYSTEM_USER_ID: &str = "122094567812345678";

/// A business portfolio.
#[derive(Debug)]
pub struct Business {
    pub id: &'static str,
    pub name: &'static str,
}

/// A WhatsApp Business Account.
#[derive(Debug)]
pub struct Waba {
    pub id: &'static str,
    pub name: &'static str,
    pub business_id: &'static str,
    /// Meta's numeric timezone id ("7" is America/New_York, "1" America/Los_Angeles).
    pub timezone_id: &'static str,
    pub message_template_namespace: &'static str,
}

/// A WhatsApp Business phone number.
#[derive(Debug)]
pub struct Phone {
    pub id: &'static str,
    pub waba_id: &'static str,
    pub display_phone_number: &'static str,
    pub verified_name: &'static str,
    pub quality_rating: &'static str,
    /// Already registered for Cloud API when the sandbox starts.
    pub registered: bool,
    /// A two-step verification PIN the number already has.
    pub two_step_pin: Option<&'static str>,
    /// In use with the WhatsApp Business app and shared with Cloud API.
    pub coexistence: bool,
    /// Meta has verified the number (`code_verification_status: VERIFIED`).
    pub verified: bool,
}

pub static BUSINESSES: [Business; 2] =
    [Business { id: ACME_BUSINESS, name: "Acme Inc" }, Business { id: BETA_BUSINESS, name: "Beta LLC" }];

/// Most recently created first: that is the order in which Meta lists WABAs and
/// grants, and clients that pick "the first granted WABA" rely on it.
pub static WABAS: [Waba; 5] = [
    Waba {
        id: ACME_SUPPORT_WABA,
        name: "Acme Support",
        business_id: ACME_BUSINESS,
        timezone_id: "7",
        message_template_namespace: "6e3b8e13_7a5e_4c5a_9b53_0e1b2f8e2a1d",
    },
    Waba {
        id: ACME_SALES_WABA,
        name: "Acme Sales",
        business_id: ACME_BUSINESS,
        timezone_id: "7",
        message_template_namespace: "c2a5e7f0_1b3d_4c8e_9f21_7a6b5c4d3e21",
    },
    Waba {
        id: ACME_CAFE_WABA,
        name: "Acme Café",
        business_id: ACME_BUSINESS,
        timezone_id: "7",
        message_template_namespace: "5b8e0c3d_2f4a_4e19_b6d7_93c1a8f05e22",
    },
    Waba {
        id: BETA_EMPTY_WABA,
        name: "Beta Empty",
        business_id: BETA_BUSINESS,
        timezone_id: "1",
        message_template_namespace: "0d9f4a72_5c1e_4b6a_8e3f_2a7c9b1d5e64",
    },
    Waba {
        id: ACME_POPUP_WABA,
        name: "Acme Pop-up",
        business_id: ACME_BUSINESS,
        timezone_id: "7",
        message_template_namespace: "9a1c7e55_3d2b_4f08_a6e1_c4b2d9f7e013",
    },
];

pub static PHONES: [Phone; 6] = [
    Phone {
        id: ACME_SUPPORT_PHONES[0],
        waba_id: ACME_SUPPORT_WABA,
        display_phone_number: "+1 555-010-0001",
        verified_name: "Acme Support",
        quality_rating: "GREEN",
        registered: false,
        two_step_pin: None,
        coexistence: false,
        verified: true,
    },
    Phone {
        id: ACME_SUPPORT_PHONES[1],
        waba_id: ACME_SUPPORT_WABA,
        display_phone_number: "+1 555-010-0002",
        verified_name: "Acme Support",
        quality_rating: "GREEN",
        registered: false,
        two_step_pin: Some(EXISTING_TWO_STEP_PIN),
        coexistence: false,
        verified: true,
    },
    Phone {
        id: ACME_SUPPORT_PHONES[2],
        waba_id: ACME_SUPPORT_WABA,
        display_phone_number: "+1 555-010-0003",
        verified_name: "Acme Support",
        quality_rating: "YELLOW",
        registered: true,
        two_step_pin: Some("739104"),
        coexistence: false,
        verified: true,
    },
    Phone {
        id: ACME_SALES_PHONE,
        waba_id: ACME_SALES_WABA,
        display_phone_number: "+1 555-010-0004",
        verified_name: "Acme Sales",
        quality_rating: "GREEN",
        registered: false,
        two_step_pin: None,
        coexistence: false,
        verified: true,
    },
    Phone {
        id: ACME_CAFE_PHONE,
        waba_id: ACME_CAFE_WABA,
        display_phone_number: "+1 555-010-0005",
        verified_name: "Acme Café",
        quality_rating: "GREEN",
        registered: false,
        two_step_pin: None,
        coexistence: true,
        verified: true,
    },
    Phone {
        id: ACME_POPUP_PHONE,
        waba_id: ACME_POPUP_WABA,
        display_phone_number: "+1 555-010-0006",
        verified_name: "Acme Pop-up",
        quality_rating: "UNKNOWN",
        registered: false,
        two_step_pin: None,
        coexistence: false,
        verified: false,
    },
];

/// The contacts in the coexistence number's WhatsApp Business app, which its first
/// contacts sync sends: (phone, full name).
pub static CAFE_CONTACTS: [(&str, &str); 3] =
    [("16505551234", "Pablo Morales"), ("16505559876", "Sheena Nelson"), ("447700900123", "Amira Khan")];

/// A message of a seeded chat: (written by the business?, text, seconds before the sync).
pub type HistoryMessage = (bool, &'static str, u64);

/// The coexistence number's chats, which its history sync sends: per thread (the
/// customer's number), its messages.
pub static CAFE_HISTORY: [(&str, &[HistoryMessage]); 2] = [
    (
        "16505551234",
        &[(false, "Hola! Are you open on Sunday?", 86_400 * 3), (true, "Yes, from 9 to 3. See you!", 86_400 * 3 - 120)],
    ),
    (
        "447700900123",
        &[(false, "Can I book a table for four at 7pm?", 86_400), (true, "Booked: table for 4 at 7pm.", 86_400 - 300)],
    ),
];

/// Every phone seeded is in the 1K tier.
pub const MESSAGING_LIMIT_TIER: &str = "TIER_1K";

pub fn business(id: &str) -> Option<&'static Business> {
    BUSINESSES.iter().find(|b| b.id == id)
}

pub fn waba(id: &str) -> Option<&'static Waba> {
    WABAS.iter().find(|w| w.id == id)
}

/// The token a configuration's codes yield: (known, lasts 60 days).
pub fn configuration(id: &str) -> Option<bool> {
    match id {
        CONFIG_ID => Some(false),
        CONFIG_ID_60_DAYS => Some(true),
        _ => None,
    }
}

pub fn phone(id: &str) -> Option<&'static Phone> {
    PHONES.iter().find(|p| p.id == id)
}

/// The WABAs a business owns, most recently created first.
pub fn wabas_of(business_id: &str) -> impl Iterator<Item = &'static Waba> + '_ {
    WABAS.iter().filter(move |w| w.business_id == business_id)
}

/// A WABA's phone numbers, in the order Meta lists them.
pub fn phones_of(waba_id: &str) -> impl Iterator<Item = &'static Phone> + '_ {
    PHONES.iter().filter(move |p| p.waba_id == waba_id)
}
