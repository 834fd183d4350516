//! Public intake: `POST /intake/call` (telephony webhook, HMAC-signed) and
//! `POST /intake/form` (web form: size limit, honeypot, per-address rate limit).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::audit::{self, Event, Outcome};
use crate::crm::intake::{CallEvent, FormSubmission};
use crate::store::models::throttle;
use crate::web::AppState;
use crate::web::auth::{Lang, Meta};
use crate::web::error::ApiError;

pub const TIMESTAMP_HEADER: &str = "x-holdfast-timestamp";
pub const SIGNATURE_HEADER: &str = "x-holdfast-signature";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/intake/call", web::post().to(call))
        .route("/intake/form", web::post().to(form));
}

/// `sha256=HEX(HMAC-SHA256(secret, "{timestamp}.{body}"))`: what the provider sends.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

fn verify(secret: &[u8], timestamp: i64, body: &[u8], presented: &str) -> bool {
    let Some(tag) = presented
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut msg = timestamp.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body);
    ring::hmac::verify(&key, &msg, &tag).is_ok()
}

async fn refuse(
    state: &AppState,
    meta: &crate::audit::RequestMeta,
    action: &'static str,
    reason: &str,
) -> Result<(), ApiError> {
    let (env, meta) = (state.env.clone(), meta.clone());
    let event = Event::new(action, Outcome::Denied).detail(json!({ "reason": reason }));
    state
        .store
        .run(move |conn| audit::record(conn, &env, &meta, &event))
        .await
        .map_err(|_| ApiError::AuditUnavailable)
}

async fn call(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = state.config.intake.call_secret.clone() else {
        // Not configured: the endpoint does not exist.
        return Err(ApiError::NotFound);
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let timestamp = header(TIMESTAMP_HEADER).and_then(|t| t.parse::<i64>().ok());
    let signature = header(SIGNATURE_HEADER);
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        refuse(&state, &meta.0, "intake.call", "unsigned").await?;
        return Err(ApiError::Unauthenticated);
    };
    let now = state.env.now().timestamp();
    if (now - timestamp).abs() > state.config.intake.call_max_skew_secs {
        refuse(&state, &meta.0, "intake.call", "stale timestamp").await?;
        return Err(ApiError::Unauthenticated);
    }
    if !verify(
        secret.expose_secret().as_bytes(),
        timestamp,
        &body,
        &signature,
    ) {
        refuse(&state, &meta.0, "intake.call", "bad signature").await?;
        return Err(ApiError::Unauthenticated);
    }
    let event: CallEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))?;
    let result = state.gate.intake_call(&meta.0, event).await?;
    Ok(HttpResponse::Ok().json(result))
}

#[derive(serde::Deserialize)]
struct FormBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    message: Option<String>,
    /// Hidden from people; bots fill it in.
    #[serde(default)]
    website: Option<String>,
}

async fn form(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
    lang: Lang,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let max = state.config.intake.form_max_bytes;
    if body.len() > max {
        return Err(ApiError::TooLarge(max));
    }
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ApiError::UnsupportedMediaType(
            "send an HTML form (application/x-www-form-urlencoded)".into(),
        ));
    }
    let ip = meta.0.ip.clone().unwrap_or_else(|| "unknown".into());
    let limit = state.config.intake.form_per_ip_per_hour;
    let env = state.env.clone();
    let key = format!("intake:form:{ip}");
    let hits = state
        .store
        .run(move |conn| {
            let now = env.now();
            throttle::hit(
                conn,
                &key,
                now.naive_utc(),
                (now - Duration::hours(1)).naive_utc(),
            )
        })
        .await?;
    if hits > limit {
        refuse(&state, &meta.0, "intake.form", "rate limit").await?;
        return Err(ApiError::Throttled);
    }
    let parsed: FormBody = serde_urlencoded_parse(&body)?;
    let wants_json = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if parsed.website.as_deref().is_some_and(|w| !w.is_empty()) {
        // Answer like a success so the bot learns nothing; keep nothing but the event.
        refuse(&state, &meta.0, "intake.form", "honeypot").await?;
        return Ok(received(wants_json, &lang));
    }
    let submission = FormSubmission {
        name: parsed.name,
        email: parsed.email,
        phone: parsed.phone,
        company: parsed.company,
        message: parsed.message,
    };
    state.gate.intake_form(&meta.0, submission).await?;
    Ok(received(wants_json, &lang))
}

fn serde_urlencoded_parse(body: &[u8]) -> Result<FormBody, ApiError> {
    let mut form = FormBody {
        name: String::new(),
        email: None,
        phone: None,
        company: None,
        message: None,
        website: None,
    };
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = v.into_owned();
        match k.as_ref() {
            "name" => form.name = v,
            "email" => form.email = Some(v),
            "phone" => form.phone = Some(v),
            "company" => form.company = Some(v),
            "message" => form.message = Some(v),
            "website" => form.website = Some(v),
            _ => {}
        }
    }
    Ok(form)
}

fn received(json: bool, lang: &Lang) -> HttpResponse {
    if json {
        HttpResponse::Accepted().json(json!({ "status": "received" }))
    } else {
        HttpResponse::Accepted()
            .content_type("text/plain; charset=utf-8")
            .body(lang.0.t("intake-form-received"))
    }
}
