use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Declares an identifier newtype whose only constructor is `FromStr`, so every instance has
/// passed `$valid`.
macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(raw: &str) -> Result<Self, String> {
                let check: fn(&str) -> bool = $valid;
                if check(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(format!("`{}` is not a valid {}", truncate(raw), $what))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Echoes at most a short prefix of rejected input, so an error can never carry a whole
/// pasted secret back to the caller.
fn truncate(raw: &str) -> String {
    let mut short: String = raw.chars().take(24).collect();
    if short.len() < raw.len() {
        short.push('…');
    }
    short
}

fn is_meta_id(raw: &str) -> bool {
    (1..=32).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit())
}

identifier!(
    /// An organization's id: ours (`org_…`) or one the SaaS brings in its JWT claim.
    OrganizationId,
    "organization id",
    |raw| (1..=64).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
);
identifier!(
    /// The JWT `sub` of a caller.
    UserId,
    "user id",
    |raw| (1..=256).contains(&raw.len()) && !raw.chars().any(char::is_control)
);
identifier!(
    /// A WhatsApp Business Account id, as Meta writes it (decimal digits).
    WabaId,
    "WhatsApp Business Account id",
    is_meta_id
);
identifier!(
    /// A WhatsApp phone number id, as Meta writes it (decimal digits).
    PhoneNumberId,
    "phone number id",
    is_meta_id
);

impl OrganizationId {
    pub fn generate() -> Self {
        Self(format!("org_{}", crate::crypto::hex(&crate::crypto::random_bytes::<10>())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_ids_are_digits_only() {
        assert!("102290129340398".parse::<WabaId>().is_ok());
        assert!("".parse::<WabaId>().is_err());
        assert!("12a".parse::<PhoneNumberId>().is_err());
        assert!("1".repeat(33).parse::<PhoneNumberId>().is_err());
    }

    #[test]
    fn organization_ids_reject_path_tricks() {
        assert!(OrganizationId::generate().as_str().starts_with("org_"));
        assert!("acme-42".parse::<OrganizationId>().is_ok());
        assert!("../x".parse::<OrganizationId>().is_err());
        assert!("a#b".parse::<OrganizationId>().is_err());
    }

    #[test]
    fn rejected_input_is_not_echoed_in_full() {
        let err = "EAAG".repeat(30).parse::<WabaId>().unwrap_err();
        assert!(err.len() < 80, "{err}");
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<WabaId>("\"123\"").is_ok());
        assert!(serde_json::from_str::<WabaId>("\"abc\"").is_err());
    }
}
