//! Media both ways, on both backends (files under the data directory; S3 on moto): a
//! customer's photo, voice note and document are fetched after the webhook's
//! acknowledgement, checked against Meta's digest and served byte for byte; a URL that
//! expired is asked for anew; a file Meta lost or corrupted is `failed` with the reason; a
//! file to send is refused before Meta when Meta would refuse it, and round-trips to the
//! sandbox byte for byte; another organization's file is no file of yours.

mod support;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Backend, Harness};
use waba_connect::sandbox::seed;

const SUPPORT: &str = seed::ACME_SUPPORT_WABA;
const READY: &str = seed::ACME_SUPPORT_PHONES[2];
const CUSTOMER: &str = "16315551234";

fn media_path(org: &str, id: &str) -> String {
    format!("/api/v1/organizations/{org}/whatsapp/media/{id}")
}

/// The listed message whose file has this media id, once its fetch is over.
async fn settled(h: &Harness, owner: &str, org: &str, media_id: &str) -> Value {
    for _ in 0..200 {
        let listed = h.messages(owner, org).await;
        if let Some(m) = listed.iter().find(|m| m["media"]["id"] == media_id)
            && m["media"]["status"] != "pending"
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the file {media_id} was never fetched: {:?}", h.messages(owner, org).await);
}

/// GET of a file, following a redirect to a presigned URL as a browser would.
async fn download(h: &Harness, owner: &str, org: &str, id: &str) -> (StatusCode, String, Vec<u8>) {
    let response = h.http.get(h.url(&media_path(org, id))).bearer_auth(owner).send().await.unwrap();
    let response = if response.status() == StatusCode::FOUND {
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.contains("X-Amz-Signature"), "a presigned URL: {location}");
        h.http.get(location).send().await.unwrap()
    } else {
        response
    };
    let status = response.status();
    let mime = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, mime, response.bytes().await.unwrap().to_vec())
}

async fn a_customers_files_arrive_byte_for_byte(backend: Backend) {
    let h = Harness::start_on(backend, &[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    let pdf = b"%PDF-1.4\n% a receipt\n%%EOF\n".to_vec();
    let sent = [
        json!({ "kind": "image", "caption": "My order arrived broken" }),
        json!({ "kind": "audio" }),
        json!({ "kind": "document", "filename": "receipt.pdf", "base64": base64::engine::general_purpose::STANDARD.encode(&pdf), "mimeType": "application/pdf" }),
    ];
    for lever in sent {
        let mut body = lever.clone();
        body["phoneNumberId"] = READY.into();
        body["from"] = CUSTOMER.into();
        let answer = h.control("inbound-media", body).await;
        let media_id = answer["mediaId"].as_str().unwrap();
        let message = settled(&h, &owner, &org, media_id).await;
        assert_eq!(message["media"]["status"], "stored", "{backend:?}: {message}");
        assert_eq!(message["media"]["sha256"], answer["sha256"]);
        assert_eq!(message["type"], lever["kind"]);
        let (status, mime, bytes) = download(&h, &owner, &org, media_id).await;
        assert_eq!(status, StatusCode::OK);
        let (meta_mime, meta_bytes) = h.sandbox().media_file(media_id).unwrap();
        assert_eq!(bytes, meta_bytes.to_vec(), "{backend:?}: byte for byte");
        assert_eq!(mime, meta_mime);
        if lever["kind"] == "image" {
            assert_eq!(message["text"], "My order arrived broken", "a caption is the message's text");
        }
        if lever["kind"] == "document" {
            assert_eq!(bytes, pdf);
        }
    }
    // Another organization's file is none of yours, and an unknown id is not found.
    let other = h.user("owner-2");
    let other_org = h.create_org(&other, "Beta").await;
    let any = h.messages(&owner, &org).await.into_iter().find(|m| m["media"].is_object()).unwrap();
    let id = any["media"]["id"].as_str().unwrap();
    let (status, _) = h.get(&media_path(&other_org, id), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.get(&media_path(&org, id), &other).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.get(&media_path(&org, "123456789012345"), &owner).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.assert_no_token_leaked().await;
}

#[tokio::test]
async fn a_customers_files_arrive_byte_for_byte_on_the_embedded_store() {
    a_customers_files_arrive_byte_for_byte(Backend::Embedded).await;
}

#[tokio::test]
async fn a_customers_files_arrive_byte_for_byte_on_aws() {
    a_customers_files_arrive_byte_for_byte(Backend::Aws).await;
}

#[tokio::test]
async fn an_expired_url_is_asked_for_anew_and_a_file_meta_lost_or_corrupted_is_failed() {
    let h = Harness::start(&[]).await;
    let owner = h.user("owner-1");
    let org = h.create_org(&owner, "Acme").await;
    h.connect(&owner, &org, SUPPORT, READY).await;
    // Meta's URL expired between the two requests of a fetch: a fresh one is asked for.
    h.sandbox().expire_next_media_url();
    let answer = h.control("inbound-media", json!({ "phoneNumberId": READY, "from": CUSTOMER, "kind": "video" })).await;
    let media_id = answer["mediaId"].as_str().unwrap();
    let message = settled(&h, &owner, &org, media_id).await;
    assert_eq!(message["media"]["status"], "stored", "{message}");
    assert_eq!(h.sandbox().calls(&format!("/{media_id}")), 2, "the media id was read twice");

    for (fault, says) in [("gone", "no longer has"), ("corrupt", "does not match")] {
        let answer = h
            .control(
                "inbound-media",
                json!({ "phoneNumberId": READY, "from": CUSTOMER, "kind": "image", "fault": fault }),
            )
            .await;
        let media_id = answer["mediaId"].as_str().unwrap().to_owned();
        let message = settled(&h, &owner, &org, &media_id).await;
        assert_eq!(message["media"]["status"], "failed", "{fault}: {message}");
        assert!(message["media"]["reason"].as_str().unwrap().contains(says), "{message}");
        let (status, body) = h.get(&media_path(&org, &media_id), &owner).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("media_unavailable")));
    }
}

#[tokio::test]
async fn an_upload_meta_would_refuse_never_reaches_meta_and_a_good_one_round_trips() {
    for backend in [Backend::Embedded, Backend::Aws] {
        let h = Harness::start_on(backend, &[]).await;
        let owner = h.user("owner-1");
        let org = h.create_org(&owner, "Acme").await;
        h.connect(&owner, &org, SUPPORT, READY).await;
        let upload = |mime: &str, bytes: Vec<u8>| {
            h.http
                .post(h.url(&format!("/api/v1/organizations/{org}/whatsapp/media?phoneNumberId={READY}")))
                .bearer_auth(&owner)
                .header("content-type", mime.to_owned())
                .body(bytes)
                .send()
        };
        let before = h.sandbox().calls("/media");
        let too_large = upload("image/png", vec![7; (5 << 20) + 1]).await.unwrap();
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.json::<Value>().await.unwrap()["code"], "media_too_large");
        let wrong_type = upload("image/gif", b"GIF89a".to_vec()).await.unwrap();
        assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(wrong_type.json::<Value>().await.unwrap()["code"], "unsupported_media_type");
        assert_eq!(h.sandbox().calls("/media"), before, "{backend:?}: Meta was not called");

        let png = base64::engine::general_purpose::STANDARD.decode(waba_connect::sandbox::SAMPLE_PNG).unwrap();
        let uploaded = upload("image/png", png.clone()).await.unwrap();
        assert_eq!(uploaded.status(), StatusCode::CREATED);
        let uploaded: Value = uploaded.json().await.unwrap();
        let media_id = uploaded["mediaId"].as_str().unwrap();
        let (mime, bytes) = h.sandbox().media_file(media_id).expect("Meta holds the file");
        assert_eq!((mime.as_str(), bytes.to_vec()), ("image/png", png.clone()), "{backend:?}: byte for byte at Meta");
        // And it is sent by its id.
        let (status, sent) = h
            .post(
                &format!("/api/v1/organizations/{org}/whatsapp/messages"),
                &owner,
                json!({ "to": CUSTOMER, "message": { "type": "image", "image": { "id": media_id, "caption": "Here it is" } } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sent}");
        assert_eq!(h.sandbox().sent_messages().last().unwrap().object["image"]["id"], media_id);

        // A file larger than a request may carry goes through an upload URL where the
        // store has them (S3); this stack takes it directly otherwise.
        let (status, created) = h
            .post(
                &format!("/api/v1/organizations/{org}/whatsapp/media/uploads"),
                &owner,
                json!({ "mimeType": "image/png", "size": png.len() }),
            )
            .await;
        match backend {
            Backend::Aws => {
                assert_eq!(status, StatusCode::CREATED, "{created}");
                let put = h
                    .http
                    .put(created["uploadUrl"].as_str().unwrap())
                    .header("content-type", "image/png")
                    .body(png.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(put.status().is_success(), "{}", put.text().await.unwrap());
                let from_upload = h
                    .http
                    .post(h.url(&format!(
                        "/api/v1/organizations/{org}/whatsapp/media?phoneNumberId={READY}&upload={}",
                        created["uploadId"].as_str().unwrap()
                    )))
                    .bearer_auth(&owner)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(from_upload.status(), StatusCode::CREATED);
                let id = from_upload.json::<Value>().await.unwrap()["mediaId"].as_str().unwrap().to_owned();
                assert_eq!(h.sandbox().media_file(&id).unwrap().1.to_vec(), png);
            }
            Backend::Embedded => assert_eq!(status, StatusCode::BAD_REQUEST, "{created}"),
        }
        h.assert_no_token_leaked().await;
    }
}
