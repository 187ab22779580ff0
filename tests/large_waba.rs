//! A WABA with hundreds of numbers, on both backends. Its own test binary: moto answers one
//! request at a time, and this test's hundreds of writes would hold up the tests beside it.

mod support;

use support::{Backend, Harness};

/// A WABA with hundreds of numbers is more than one DynamoDB transaction (100 operations)
/// can hold: saving and disconnecting it still work, and routing follows.
#[tokio::test]
async fn a_waba_with_hundreds_of_phones_connects_and_disconnects() {
    use shared::clock::Timestamp;
    use shared::domain::{
        Authorization, Ciphertext, OAuthState, Organization, OrganizationName, PhoneLink, PhoneMode, PhoneNumber,
        Registration, StateStep, StateToken, TokenKind,
    };
    use shared::store::records::Connection;
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let records = &h.stack.app().records;
        let now = Timestamp::now();
        let org = Organization::new(
            "org_large".parse().unwrap(),
            "owner-1".parse().unwrap(),
            OrganizationName::parse("Large").unwrap(),
            now,
        );
        records.create_organization(&org, 100).await.unwrap();
        let waba: shared::domain::WabaId = "900000000000001".parse().unwrap();
        let state = OAuthState {
            key: StateToken::generate().key(),
            organization_id: org.id.clone(),
            caller: "owner-1".parse().unwrap(),
            redirect_uri: "https://example.com/cb".into(),
            created_at: now,
            expires_at: now.plus_seconds(600),
            step: StateStep::Authorized(Authorization {
                token: Ciphertext::from_bytes(vec![1]),
                token_kind: TokenKind::Business,
                granted_wabas: vec![waba.clone()],
                token_expires_at: None,
                code_hash: "c".into(),
                authorized_at: now,
            }),
        };
        records.create_state(&state).await.unwrap();
        let phones: Vec<PhoneNumber> = (0..300)
            .map(|i| PhoneNumber {
                organization_id: org.id.clone(),
                phone_number_id: format!("7000000000{i:05}").parse().unwrap(),
                waba_id: waba.clone(),
                link: PhoneLink::Active {
                    token: Ciphertext::from_bytes(vec![2]),
                    kind: TokenKind::Business,
                    expires_at: None,
                },
                mode: PhoneMode::CloudApi,
                registration: Registration::Registered,
                registration_attempts: Vec::new(),
                registration_limited_until: None,
                pin: None,
                display_phone: format!("+1 555 7{i:05}"),
                verified_name: None,
                quality_rating: None,
                quality_event: None,
                messaging_limit: None,
                name_status: None,
                health: Default::default(),
                sync: None,
                verified_at: now,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let connection = Connection {
            organization: &org,
            state: &state.key,
            waba_id: &waba,
            phones: phones.clone(),
            retire: Vec::new(),
            now,
        };
        records.save_connection(connection).await.unwrap();
        let saved = records.phones(&org.id).await.unwrap();
        assert_eq!(saved.iter().filter(|p| p.is_active()).count(), 300, "{backend:?}");
        assert_eq!(records.routes(&waba, None).await.unwrap().len(), 300);
        let current = records.organization(&org.id).await.unwrap().unwrap();
        assert_eq!(current.waba_id.as_ref(), Some(&waba));

        records.disconnect(&current, &saved, Timestamp::now()).await.unwrap();
        assert!(records.phones(&org.id).await.unwrap().iter().all(|p| !p.is_active() && p.token().is_none()));
        assert!(records.routes(&waba, None).await.unwrap().is_empty(), "{backend:?}: no route is left");
        assert_eq!(records.organization(&org.id).await.unwrap().unwrap().waba_id, None);
    }
}
