//! The one place where errors become HTTP. Clients get a stable code, a safe
//! message and the request id; causes go to the log only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::access::{GateError, Refusal};
use crate::i18n::{Localizer, Msg};
use crate::identity::IdentityError;
use crate::keys::KeysError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("{0}")]
    NotAllowed(Msg),
    #[error("the request did not come from a Holdfast page (CSRF check failed)")]
    Csrf,
    #[error("hardware key proof required")]
    KeyProofRequired,
    #[error("a fresh hardware key proof is required for this action")]
    KeyStepUpRequired,
    /// An enrollment or proof refused; `0` names the check that failed.
    #[error("{1}")]
    KeyRejected(&'static str, Msg),
    #[error("not found")]
    NotFound,
    #[error("{msg}")]
    Invalid { field: Option<String>, msg: Msg },
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// An upload over its own limit, with a message that says what to do.
    #[error("{0}")]
    TooLargeFile(Msg),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again later")]
    Throttled,
    #[error("the audit log is unavailable, so the request was not carried out")]
    AuditUnavailable,
    #[error("the service is not available")]
    Unavailable,
    /// Anything unexpected; `0` is logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// A query-string parameter that cannot be used (a report's period, a
    /// limit): the request itself is malformed, so 400 with the field named.
    #[error("{msg}")]
    BadParameter { field: String, msg: Msg },
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    pub request_id: &'a str,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::Forbidden => "forbidden",
            ApiError::NotAllowed(_) => "not_allowed",
            ApiError::Csrf => "csrf_failed",
            ApiError::KeyProofRequired => "key_proof_required",
            ApiError::KeyStepUpRequired => "key_step_up_required",
            ApiError::KeyRejected(..) => "key_rejected",
            ApiError::NotFound => "not_found",
            ApiError::Invalid { .. } => "invalid",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) | ApiError::TooLargeFile(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Conflict(_) => "conflict",
            ApiError::Throttled => "throttled",
            ApiError::AuditUnavailable => "audit_unavailable",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::BadParameter { .. } => "bad_parameter",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } => field.as_deref(),
            ApiError::KeyRejected(check, _) => Some(check),
            ApiError::BadParameter { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The message in the reader's language where a translation exists.
    pub fn message(&self, t: Option<&Localizer>) -> String {
        match (self, t) {
            (
                ApiError::Invalid { msg, .. }
                | ApiError::BadParameter { msg, .. }
                | ApiError::NotAllowed(msg)
                | ApiError::TooLargeFile(msg)
                | ApiError::KeyRejected(_, msg),
                Some(t),
            ) => t.msg(msg),
            (_, Some(t)) => {
                let key = format!("api-error-{}", self.code());
                if t.has(&key) {
                    t.t(&key)
                } else {
                    self.to_string()
                }
            }
            (_, None) => self.to_string(),
        }
    }

    /// The body sent to clients; `request_id` is filled in by the middleware.
    pub fn body(&self, request_id: &str, t: Option<&Localizer>) -> serde_json::Value {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.message(t),
                field: self.field(),
                request_id,
            },
        };
        serde_json::to_value(body).unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::NotAllowed(_)
            | ApiError::Csrf
            | ApiError::KeyProofRequired
            | ApiError::KeyStepUpRequired
            | ApiError::KeyRejected(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) | ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) | ApiError::TooLargeFile(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ApiError::AuditUnavailable | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The middleware replaces this body with one that carries the request id
        // (and with an HTML page for browser routes).
        HttpResponse::build(self.status_code()).json(self.body("", None))
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        match e {
            GateError::Forbidden => ApiError::Forbidden,
            GateError::KeyProof(Refusal::ProofRequired) => ApiError::KeyProofRequired,
            GateError::KeyProof(Refusal::FreshProofRequired) => ApiError::KeyStepUpRequired,
            GateError::NotFound => ApiError::NotFound,
            GateError::Invalid { field, msg } => ApiError::Invalid {
                field: Some(field),
                msg,
            },
            GateError::NotAllowed(m) => ApiError::NotAllowed(m),
            GateError::Conflict(m) => ApiError::Conflict(m),
            GateError::AuditUnavailable(cause) => {
                tracing::error!(error = %cause, "audit write failed; request refused");
                ApiError::AuditUnavailable
            }
            GateError::Store(cause) => store_error(cause),
            GateError::Internal(m) => ApiError::Internal(m),
        }
    }
}

fn store_error(cause: StoreError) -> ApiError {
    match cause {
        StoreError::Pool(_) | StoreError::Connect(_) => {
            tracing::error!(error = %cause, "database unavailable");
            ApiError::Unavailable
        }
        other => ApiError::Internal(other.to_string()),
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Invalid(msg) => ApiError::Invalid { field: None, msg },
            IdentityError::Conflict(m) => ApiError::Conflict(format!("{m} already exists")),
            IdentityError::NotFound(_) => ApiError::NotFound,
            IdentityError::BadCredentials => ApiError::BadCredentials,
            IdentityError::Throttled => ApiError::Throttled,
            IdentityError::NoSession => ApiError::Unauthenticated,
            IdentityError::Store(s) => store_error(s),
            IdentityError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<KeysError> for ApiError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Attestation(a) => ApiError::KeyRejected(
                a.code(),
                Msg::new("key-attestation-refused").arg("reason", a.to_string()),
            ),
            KeysError::Rejected(r) => {
                ApiError::KeyRejected(r.code(), Msg::new("key-rejected").arg("reason", r.code()))
            }
            KeysError::Throttled => ApiError::Throttled,
            KeysError::NotFound => ApiError::NotFound,
            KeysError::Conflict(m) => ApiError::Conflict(m),
            KeysError::Store(s) => store_error(s),
            KeysError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        store_error(e)
    }
}

impl From<actix_web::error::JsonPayloadError> for ApiError {
    fn from(e: actix_web::error::JsonPayloadError) -> Self {
        use actix_web::error::JsonPayloadError as J;
        match e {
            J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => {
                ApiError::TooLarge(limit)
            }
            J::ContentType => ApiError::UnsupportedMediaType(
                "send JSON with Content-Type: application/json".into(),
            ),
            J::Deserialize(err) => {
                // serde's message names the field and the expected type; it never
                // contains server internals.
                ApiError::BadRequest(format!("invalid JSON: {err}"))
            }
            J::Serialize(_) => ApiError::Internal("response serialisation".into()),
            J::Payload(p) => ApiError::BadRequest(format!("cannot read the body: {p}")),
            _ => ApiError::BadRequest("invalid JSON body".into()),
        }
    }
}

impl From<actix_web::error::UrlencodedError> for ApiError {
    fn from(e: actix_web::error::UrlencodedError) -> Self {
        use actix_web::error::UrlencodedError as U;
        match e {
            U::Overflow { limit, .. } => ApiError::TooLarge(limit),
            U::ContentType => ApiError::UnsupportedMediaType("send an HTML form".into()),
            U::Parse(e) => ApiError::BadRequest(format!("the form could not be read: {e}")),
            other => ApiError::BadRequest(format!("the form could not be read: {other}")),
        }
    }
}
