use std::fmt;

/// A configuration secret (app secret, verify token). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A secret the service holds in clear only in memory, and stores only sealed by a
/// [`crate::cipher::Cipher`]. It implements neither `Display`, `Serialize` nor a revealing
/// `Debug`; `expose` is for the one call that needs the value (Graph, or the cipher).
pub trait Sealable: Sized {
    fn expose(&self) -> &str;
    /// Rebuilds the secret from what a cipher opened.
    fn from_clear(clear: String) -> Self;
}

macro_rules! clear_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(String);

        impl $name {
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl Sealable for $name {
            fn expose(&self) -> &str {
                &self.0
            }
            fn from_clear(clear: String) -> Self {
                Self(clear)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                // Best effort: overwrite the clear text before the allocation is returned.
                // SAFETY: zero bytes are valid UTF-8, so the string stays well-formed.
                let bytes = unsafe { self.0.as_bytes_mut() };
                bytes.fill(0);
            }
        }
    };
}

clear_secret!(
    /// A Meta access token in clear.
    AccessToken
);

clear_secret!(
    /// A phone number's six-digit two-step verification PIN, which Cloud API registration
    /// sets (or must be given). As secret as a token: whoever has it can re-register the
    /// number elsewhere.
    RegistrationPin
);

impl AccessToken {
    pub fn new(value: String) -> Self {
        Self(value)
    }
}

/// The digit a random byte stands for, if it stands for one: 250 is the largest multiple of
/// 10 below 256, so the bytes from 250 up are dropped and every digit is equally likely.
fn uniform_digit(byte: u8) -> Option<char> {
    (byte < 250).then(|| char::from(b'0' + byte % 10))
}

impl RegistrationPin {
    /// Six digits from the CSPRNG, each equally likely.
    pub fn generate() -> Self {
        let bytes = std::iter::repeat_with(crate::crypto::random_bytes::<16>).flatten();
        Self(bytes.filter_map(uniform_digit).take(6).collect())
    }

    /// A PIN as a person types it: exactly six digits.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err("`pin` must be the number's six-digit two-step verification PIN".into())
        }
    }
}

/// The code Meta sends to a number it has not verified (SMS or voice), which the person
/// types in to verify it. A secret like a PIN, but never stored at all, not even sealed: it
/// lives for the one call to Meta's `verify_code`.
pub struct VerificationCode(String);

impl VerificationCode {
    /// A code as a person types it: 4 to 8 digits (Meta's are six), spaces and dashes
    /// between groups dropped.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if (4..=8).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err("`code` must be the digits of the verification code Meta sent to the number".into())
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerificationCode(***)")
    }
}

impl Drop for VerificationCode {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8, so the string stays well-formed.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

/// A secret sealed by a [`crate::cipher::Cipher`] under a context naming the owning
/// organization and its purpose. The only form in which a token or PIN is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext(Vec<u8>);

impl Ciphertext {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ciphertext({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let token = AccessToken::new("EAAGsecretvalue".into());
        assert_eq!(format!("{token:?}"), "AccessToken(***)");
        assert_eq!(format!("{:?}", Secret::new("s3cr3t")), "Secret(***)");
        assert_eq!(token.expose(), "EAAGsecretvalue");
        assert_eq!(format!("{:?}", RegistrationPin::generate()), "RegistrationPin(***)");
        assert_eq!(format!("{:?}", VerificationCode::parse("123-456").unwrap()), "VerificationCode(***)");
    }

    #[test]
    fn generated_pins_are_six_uniform_digits() {
        let mut counts = [0u32; 10];
        for _ in 0..2000 {
            let pin = RegistrationPin::generate();
            assert!(RegistrationPin::parse(pin.expose()).is_ok());
            for b in pin.expose().bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        // 12,000 digits: each should appear about 1,200 times; 900 is far outside chance.
        assert!(counts.iter().all(|&c| c > 900), "{counts:?}");
        assert_ne!(RegistrationPin::generate().expose(), RegistrationPin::generate().expose());
    }

    #[test]
    fn a_ciphertext_keeps_its_bytes_and_shows_only_their_count() {
        let sealed = Ciphertext::from_bytes(vec![7, 0, 255]);
        assert_eq!(sealed.as_bytes(), [7, 0, 255]);
        assert_eq!(format!("{sealed:?}"), "Ciphertext(3 bytes)");
    }

    #[test]
    fn every_digit_stands_for_as_many_bytes() {
        let mut counts = [0u32; 10];
        for digit in (0..=u8::MAX).filter_map(uniform_digit) {
            counts[usize::from(digit as u8 - b'0')] += 1;
        }
        assert_eq!(counts, [25; 10]);
        assert_eq!((uniform_digit(249), uniform_digit(250)), (Some('9'), None));
    }

    #[test]
    fn only_six_digits_parse_as_a_pin() {
        for bad in ["12345", "1234567", "12345a", " 123456", "１２３４５６"] {
            assert!(RegistrationPin::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RegistrationPin::parse("012345").unwrap().expose(), "012345");
    }

    #[test]
    fn verification_codes_are_digits_as_typed() {
        assert_eq!(VerificationCode::parse("123 456").unwrap().expose(), "123456");
        for bad in ["", "123", "12345678901", "12a456", "１２３４５６"] {
            assert!(VerificationCode::parse(bad).is_err(), "{bad}");
        }
    }
}
