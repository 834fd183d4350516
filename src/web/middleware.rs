//! Middleware every request passes: the envelope (request id, tracing span,
//! security headers, error bodies) and the CSRF/origin check.

use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use tracing::Instrument;

use super::AppState;
use super::auth::{self, SESSION_COOKIE};
use super::error::ApiError;
use super::pages;
use crate::audit::{self, Event, Outcome, Who};
use crate::identity::{sessions, token_hash};

/// The request id, stored in request extensions by `envelope`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Headers set on every response, built once at start-up.
pub struct SecurityHeaders(Vec<(HeaderName, HeaderValue)>);

impl SecurityHeaders {
    pub fn new(tls: bool) -> Self {
        let mut headers = vec![
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                // `same-origin`, not `no-referrer`: with no-referrer, Chromium sends
                // `Origin: null` on same-origin form posts.
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
            ),
        ];
        if tls {
            headers.push((
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            ));
        }
        SecurityHeaders(headers)
    }
}

fn new_request_id(state: Option<&web::Data<AppState>>) -> String {
    let bytes = state
        .and_then(|s| s.env.random_bytes::<12>().ok())
        .unwrap_or_default();
    hex::encode(bytes)
}

fn wants_html(req: &actix_web::HttpRequest) -> bool {
    let path = req.path();
    // The public web form is posted by people from the company's site: they get a
    // page in their language, scripts that ask for JSON get JSON.
    if path == "/intake/form" {
        return !req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    }
    !(path.starts_with("/api/")
        || path.starts_with("/intake/")
        || path == "/healthz"
        || path == "/readyz")
}

/// Request id, span, headers, and one shape for every error.
pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let request_id = new_request_id(state.as_ref());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // The path only: query strings can carry search terms, i.e. client data.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let mut res: ServiceResponse<EitherBody<BoxBody>> = match result {
        Ok(res) => {
            let http_req = res.request().clone();
            let api_error = res
                .response()
                .error()
                .and_then(|e| e.as_error::<ApiError>())
                .map(|e| render_error(&http_req, e, &request_id, state.as_ref()));
            match api_error {
                Some(replacement) => {
                    ServiceResponse::new(http_req, replacement).map_into_right_body()
                }
                None => {
                    let status = res.status();
                    let has_body = res.headers().contains_key(header::CONTENT_TYPE);
                    if (status.is_client_error() || status.is_server_error()) && !has_body {
                        // An error actix produced itself (e.g. an empty 405): give it
                        // our shape. Pages that render their own error (a form shown
                        // again with its messages) pass through.
                        let err = generic_error(status);
                        let response = render_error(&http_req, &err, &request_id, state.as_ref());
                        ServiceResponse::new(http_req, response).map_into_right_body()
                    } else {
                        res.map_body(|_, b| b.boxed()).map_into_left_body()
                    }
                }
            }
        }
        // Our middleware answers errors as responses; anything else propagates.
        Err(err) => {
            tracing::warn!(parent: &span, error = %err, "request failed before routing");
            return Err(err);
        }
    };
    let headers = res.headers_mut();
    if let Some(state) = &state {
        for (name, value) in &state.headers.0 {
            headers.insert(name.clone(), value.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    // Client data must not linger in shared or browser caches.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = res.status();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(parent: &span, status = status.as_u16(), elapsed_ms, "request finished");
    } else {
        tracing::info!(parent: &span, status = status.as_u16(), elapsed_ms, "request finished");
    }
    Ok(res)
}

fn generic_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::BadRequest("this method is not allowed here".into())
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(0),
        s if s.is_client_error() => {
            ApiError::BadRequest("the request could not be processed".into())
        }
        _ => ApiError::Internal(format!("status {status}")),
    }
}

fn render_error(
    req: &actix_web::HttpRequest,
    err: &ApiError,
    request_id: &str,
    state: Option<&web::Data<AppState>>,
) -> HttpResponse {
    if let ApiError::Internal(cause) = err {
        tracing::error!(request_id, cause = %cause, "internal error");
    }
    let status = err.status_code();
    if wants_html(req) {
        if matches!(err, ApiError::Unauthenticated) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        if let Some(state) = state {
            return pages::error_page(req, state, status, err, request_id);
        }
    }
    let t = state.map(|s| auth::localizer(req, s));
    HttpResponse::build(status).json(err.body(request_id, t.as_ref()))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Paths that sign in (no session yet) or are public intake endpoints with their
/// own protection (HMAC signature, rate limits).
fn exempt_from_token(path: &str) -> bool {
    matches!(path, "/api/v1/session" | "/login" | "/setup") || path.starts_with("/intake/")
}

/// Refuses state changes from other sites: Fetch-Metadata/Origin for every unsafe
/// request, and the session's CSRF token (header `X-CSRF-Token` or form field
/// `csrf`) whenever a session cookie is sent. Refusals are audited.
pub async fn csrf<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if is_safe(req.method()) || req.path().starts_with("/intake/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let cross_site = {
        let h = req.headers();
        let fetch_site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let bad_fetch = fetch_site.is_some_and(|s| s != "same-origin" && s != "none");
        let origin = h
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            // Browsers send `Origin: null` from privacy-sensitive contexts; accept it
            // only when Fetch Metadata vouches for the same origin.
            .filter(|o| !(*o == "null" && fetch_site == Some("same-origin")));
        let bad_origin = match (origin, h.get(header::HOST)) {
            (Some(origin), Some(host)) => {
                let host = host.to_str().unwrap_or("");
                url::Url::parse(origin)
                    .ok()
                    .map(|u| {
                        let origin_host = match u.port() {
                            Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
                            None => u.host_str().unwrap_or("").to_string(),
                        };
                        !origin_host.eq_ignore_ascii_case(host)
                    })
                    .unwrap_or(true)
            }
            (Some(_), None) => true,
            _ => false,
        };
        bad_fetch || bad_origin
    };
    let cookie = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let mut reason = cross_site.then_some("cross-site request");
    if reason.is_none()
        && let Some(token) = &cookie
        && !exempt_from_token(req.path())
    {
        let presented = match req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
        {
            Some(t) => Some(t.to_string()),
            None => form_field(&mut req, "csrf").await,
        };
        if !presented.is_some_and(|p| sessions::csrf_valid(token, &p)) {
            reason = Some("missing or wrong CSRF token");
        }
    }
    let Some(reason) = reason else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned() {
        let meta = auth::request_meta(req.request(), &state);
        let who = match &cookie {
            Some(token) => auth::resolve(&state, token).await.ok().map(|r| Who {
                id: r.actor.user_id,
                role: r.actor.role.as_str().to_string(),
                session_ref: Some(sessions::session_ref(&token_hash(token))),
            }),
            None => None,
        };
        let mut event = Event::new("csrf.rejected", Outcome::Denied).detail(serde_json::json!({
            "reason": reason, "method": req.method().as_str(), "path": req.path(),
        }));
        if let Some(who) = who {
            event = event.by(who);
        }
        let env = state.env.clone();
        let recorded = state
            .store
            .run(move |conn| audit::record(conn, &env, &meta, &event))
            .await;
        if recorded.is_err() {
            return Ok(req
                .error_response(ApiError::AuditUnavailable)
                .map_into_right_body());
        }
    }
    Ok(req.error_response(ApiError::Csrf).map_into_right_body())
}

/// Reads one field of an url-encoded body and puts the body back for the handler.
async fn form_field(req: &mut ServiceRequest, name: &str) -> Option<String> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.server.body_limit)
        .unwrap_or(64 * 1024);
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    use futures_util::StreamExt;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let value = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    let (_, mut restored) = actix_http::h1::Payload::create(true);
    restored.unread_data(body);
    req.set_payload(restored.into());
    value
}
