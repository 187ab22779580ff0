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

/// A Meta access token in clear. It deliberately implements neither `Display`, `Serialize`
/// nor a revealing `Debug`: the only ways out are [`AccessToken::expose`] (used by the Graph
/// client to authenticate a call) and a [`crate::cipher::Cipher`], which seals it.
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

impl Drop for AccessToken {
    fn drop(&mut self) {
        // Best effort: overwrite the clear text before the allocation is returned.
        // SAFETY: zero bytes are valid UTF-8, so the string stays well-formed.
        let bytes = unsafe { self.0.as_bytes_mut() };
        bytes.fill(0);
    }
}

/// An access token sealed by a [`crate::cipher::Cipher`] under a context naming the owning
/// organization. The only form in which a token is ever stored.
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
    fn tokens_do_not_print() {
        let token = AccessToken::new("EAAGsecretvalue".into());
        assert_eq!(format!("{token:?}"), "AccessToken(***)");
        assert_eq!(format!("{:?}", Secret::new("s3cr3t")), "Secret(***)");
        assert_eq!(token.expose(), "EAAGsecretvalue");
    }
}
