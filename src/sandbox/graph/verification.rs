//! Verifying a number Meta has not verified: `POST /{phone}/request_code`
//! `{code_method: SMS|VOICE, language}` sends a six-digit code to the number (the sandbox
//! shows it at `/control/verification-code`, as the phone's screen would), and
//! `POST /{phone}/verify_code` `{code}` checks it. Meta refuses a code request with 136024
//! and a wrong or expired code with 136025, with what went wrong in `error_data.details`.

use http::Method;
use serde_json::{Value, json};

use super::super::seed::Phone;
use super::super::state::{
    CODE_REQUESTS_PER_HOUR, CODE_TRIES, SentCode, VERIFICATION_CODE_SECS, new_verification_code, unix_now,
};
use super::{Call, GraphError};
use crate::sandbox::Sandbox;

fn request_refused(details: &str) -> GraphError {
    GraphError::oauth(136_024, "(#136024) Request code error").with_details(details)
}

fn verify_refused(details: &str) -> GraphError {
    GraphError::oauth(136_025, "(#136025) Verify code error").with_details(details)
}

impl Sandbox {
    pub(super) fn request_code(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if *call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let method = call.params.get("code_method").ok_or_else(|| GraphError::required("code_method"))?;
        if !matches!(method, "SMS" | "VOICE") {
            return Err(GraphError::invalid_parameter("Param code_method must be one of {SMS, VOICE}."));
        }
        let language = call.params.get("language").ok_or_else(|| GraphError::required("language"))?;
        if !(2..=7).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
            return Err(GraphError::invalid_parameter("Param language must be a language code such as en_US."));
        }
        let now = unix_now();
        let mut state = self.lock();
        let number = state.number(phone);
        if number.verified {
            return Err(request_refused("The phone number is already verified."));
        }
        number.code_requests.retain(|at| now - at < 3600);
        if number.code_requests.len() >= CODE_REQUESTS_PER_HOUR {
            tracing::info!(phone = phone.id, "meta sandbox: too many verification code requests");
            return Err(request_refused("Too many code requests for this phone number. Wait before requesting again."));
        }
        number.code_requests.push(now);
        let code = new_verification_code();
        number.code = Some(SentCode { code: code.clone(), expires_at: now + VERIFICATION_CODE_SECS, wrong_tries: 0 });
        state.codes_sent.push(code);
        tracing::info!(phone = phone.id, method, "meta sandbox: verification code sent");
        Ok(json!({ "success": true }))
    }

    pub(super) fn verify_code(&self, call: &Call<'_>, phone: &'static Phone) -> Result<Value, GraphError> {
        if *call.method != Method::POST {
            return Err(GraphError::unsupported(call.method, phone.id));
        }
        let given = call.params.get("code").ok_or_else(|| GraphError::required("code"))?;
        let now = unix_now();
        let mut state = self.lock();
        let number = state.number(phone);
        if number.verified {
            return Err(verify_refused("The phone number is already verified."));
        }
        let Some(sent) = number.code.as_mut() else {
            return Err(verify_refused("No verification code was requested for this phone number."));
        };
        if sent.expires_at <= now || sent.wrong_tries >= CODE_TRIES {
            return Err(verify_refused("The verification code has expired. Request a new code."));
        }
        if aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), sent.code.as_bytes()).is_err() {
            sent.wrong_tries += 1;
            tracing::info!(phone = phone.id, "meta sandbox: a wrong verification code");
            return Err(verify_refused("The verification code is incorrect."));
        }
        number.verified = true;
        number.code = None;
        tracing::info!(phone = phone.id, "meta sandbox: number verified");
        Ok(json!({ "success": true }))
    }
}
