//! The `Cipher` contract, run against the local AES-256-GCM key and against KMS (moto's
//! server) through the real AWS SDK.

mod common;

use shared::cipher::{Cipher, CipherError, Purpose, TokenContext};
use shared::domain::{AccessToken, Ciphertext, OrganizationId, RegistrationPin};

const TOKEN: &str = "EAAGm0PX4ZCpsBAContractTestTokenValue1234567890";

fn org(id: &str) -> OrganizationId {
    id.parse().unwrap()
}

async fn round_trips_under_its_context(cipher: &dyn Cipher) {
    let acme = org("org_acme");
    let context = TokenContext::new(&acme, Purpose::PhoneToken);
    let sealed = cipher.seal(&AccessToken::new(TOKEN.into()), context).await.unwrap();
    assert_eq!(cipher.open::<AccessToken>(&sealed, context).await.unwrap().expose(), TOKEN);
}

async fn seals_registration_pins_under_their_own_purpose(cipher: &dyn Cipher) {
    let acme = org("org_acme");
    let pin = RegistrationPin::generate();
    let sealed = cipher.seal(&pin, TokenContext::new(&acme, Purpose::RegistrationPin)).await.unwrap();
    assert!(!sealed.as_bytes().windows(6).any(|w| w == pin.expose().as_bytes()));
    let opened = cipher.open::<RegistrationPin>(&sealed, TokenContext::new(&acme, Purpose::RegistrationPin)).await;
    assert_eq!(opened.unwrap().expose(), pin.expose());
    let as_token = cipher.open::<AccessToken>(&sealed, TokenContext::new(&acme, Purpose::PhoneToken)).await;
    assert_eq!(as_token.unwrap_err(), CipherError::Refused);
}

async fn never_stores_the_clear_text(cipher: &dyn Cipher) {
    let acme = org("org_acme");
    let sealed =
        cipher.seal(&AccessToken::new(TOKEN.into()), TokenContext::new(&acme, Purpose::PhoneToken)).await.unwrap();
    let bytes = sealed.as_bytes();
    assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    let again =
        cipher.seal(&AccessToken::new(TOKEN.into()), TokenContext::new(&acme, Purpose::PhoneToken)).await.unwrap();
    assert_ne!(sealed, again, "each seal is randomized");
}

async fn refuses_another_organizations_context(cipher: &dyn Cipher) {
    let acme = org("org_acme");
    let globex = org("org_globex");
    let sealed =
        cipher.seal(&AccessToken::new(TOKEN.into()), TokenContext::new(&acme, Purpose::PhoneToken)).await.unwrap();
    let refused = cipher.open::<AccessToken>(&sealed, TokenContext::new(&globex, Purpose::PhoneToken)).await;
    assert_eq!(refused.unwrap_err(), CipherError::Refused);
}

async fn refuses_another_purpose(cipher: &dyn Cipher) {
    let acme = org("org_acme");
    let sealed =
        cipher.seal(&AccessToken::new(TOKEN.into()), TokenContext::new(&acme, Purpose::OAuthState)).await.unwrap();
    let refused = cipher.open::<AccessToken>(&sealed, TokenContext::new(&acme, Purpose::PhoneToken)).await;
    assert_eq!(refused.unwrap_err(), CipherError::Refused);
}

async fn refuses_tampered_ciphertext(cipher: &dyn Cipher) {
    let acme = org("org_acme");
    let context = TokenContext::new(&acme, Purpose::PhoneToken);
    let sealed = cipher.seal(&AccessToken::new(TOKEN.into()), context).await.unwrap();
    let mut bytes = sealed.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    assert!(cipher.open::<AccessToken>(&Ciphertext::from_bytes(bytes), context).await.is_err());
    assert!(cipher.open::<AccessToken>(&Ciphertext::from_bytes(vec![1, 2, 3]), context).await.is_err());
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod local_key {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&crate::common::local_cipher()).await;
                }
            )*
        }
        mod kms {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&crate::common::kms_cipher().await).await;
                }
            )*
        }
    };
}

contract!(
    round_trips_under_its_context,
    never_stores_the_clear_text,
    refuses_another_organizations_context,
    refuses_another_purpose,
    refuses_tampered_ciphertext,
    seals_registration_pins_under_their_own_purpose,
);

#[tokio::test]
async fn the_local_key_file_is_created_once_and_reused() {
    let dir = common::TempDir::new();
    let path = dir.0.join("local-kms.key");
    let first: &dyn Cipher = &shared::cipher::local::LocalCipher::load_or_create(&path).unwrap();
    let acme = org("org_acme");
    let context = TokenContext::new(&acme, Purpose::PhoneToken);
    let sealed = first.seal(&AccessToken::new(TOKEN.into()), context).await.unwrap();
    let second: &dyn Cipher = &shared::cipher::local::LocalCipher::load_or_create(&path).unwrap();
    assert_eq!(second.open::<AccessToken>(&sealed, context).await.unwrap().expose(), TOKEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
