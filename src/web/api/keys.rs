//! `/api/v1/keys`: hardware-key challenges and proofs (the browser asks for a
//! challenge, `holdfast key login` posts the proof), enrollment by
//! `holdfast key enroll`, the signed-in user's own keys, and key management for
//! owners and admins (through `AdminGate`). See `src/keys/PROTOCOL.md`.

use actix_web::{HttpResponse, web};

use crate::audit::Who;
use crate::identity::token_hash;
use crate::keys::service::{self, ElevationInfo, EnrollRequest, ProofRequest};
use crate::keys::webauthn;
use crate::web::AppState;
use crate::web::auth::{Authed, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(own_keys))
        .route("/keys/challenge", web::post().to(challenge))
        .route("/keys/proof", web::post().to(proof))
        .route("/keys/enroll", web::post().to(enroll))
        .route("/keys/elevation", web::get().to(elevation))
        .route("/keys/{id}/revoke", web::post().to(revoke))
        .route(
            "/keys/webauthn/register/begin",
            web::post().to(webauthn_register_begin),
        )
        .route(
            "/keys/webauthn/register/finish",
            web::post().to(webauthn_register_finish),
        )
        .route(
            "/keys/webauthn/login/begin",
            web::post().to(webauthn_login_begin),
        )
        .route(
            "/keys/webauthn/login/finish",
            web::post().to(webauthn_login_finish),
        );
}

async fn own_keys(state: web::Data<AppState>, authed: Authed) -> Result<HttpResponse, ApiError> {
    let user_id = authed.actor.user_id.clone();
    let keys = state
        .store
        .run(move |conn| service::user_keys(conn, &user_id))
        .await?;
    Ok(HttpResponse::Ok().json(keys))
}

fn elevation_info(state: &AppState, authed: &Authed) -> ElevationInfo {
    let e = authed.actor.elevation.as_ref();
    let now = state.env.now();
    ElevationInfo {
        privileged: state.gate.key_rules().is_privileged(authed.actor.role),
        elevated_until: e.filter(|e| e.active_at(now)).map(|e| e.until()),
        last_proof_at: e.map(|e| e.last_proof()),
        step_up_minutes: state.config.keys.step_up_minutes,
    }
}

async fn elevation(state: web::Data<AppState>, authed: Authed) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(elevation_info(&state, &authed)))
}

/// A challenge for this browser session; shown to the user, signed by the CLI.
async fn challenge(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta) = (state.env.clone(), state.keys.clone(), meta.0);
    let hash = token_hash(&authed.token);
    let who = Who {
        id: authed.actor.user_id.clone(),
        role: authed.actor.role.as_str().to_string(),
        session_ref: Some(authed.actor.session_ref.clone()),
    };
    let c = state
        .store
        .run(move |conn| service::create_challenge(conn, &env, &svc, &meta, &hash, who))
        .await?;
    Ok(HttpResponse::Created().json(c))
}

/// The CLI's proof. No cookie: the challenge says which session it elevates.
async fn proof(
    state: web::Data<AppState>,
    meta: Meta,
    body: web::Json<ProofRequest>,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta, req) = (
        state.env.clone(),
        state.keys.clone(),
        meta.0,
        body.into_inner(),
    );
    let ok = state
        .store
        .run(move |conn| service::prove(conn, &env, &svc, &meta, req))
        .await?;
    Ok(HttpResponse::Ok().json(ok))
}

/// The CLI's enrollment, authorised by a one-time enrollment code.
async fn enroll(
    state: web::Data<AppState>,
    meta: Meta,
    body: web::Json<EnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta, req) = (
        state.env.clone(),
        state.keys.clone(),
        meta.0,
        body.into_inner(),
    );
    let key = state
        .store
        .run(move |conn| service::enroll(conn, &env, &svc, &meta, req))
        .await?;
    Ok(HttpResponse::Created().json(key))
}

async fn revoke(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = state.admin.revoke_key(&authed.actor, &meta.0, &id).await?;
    Ok(HttpResponse::Ok().json(key))
}

/// Registration of a security key in this browser session, with an enrollment
/// code issued to the signed-in user: the options for `navigator.credentials.create`.
async fn webauthn_register_begin(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<webauthn::RegisterBeginRequest>,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta, req) = (
        state.env.clone(),
        state.keys.clone(),
        meta.0,
        body.into_inner(),
    );
    let (hash, user_id) = (token_hash(&authed.token), authed.actor.user_id.clone());
    let begun = state
        .store
        .run(move |conn| webauthn::register_begin(conn, &env, &svc, &meta, &hash, &user_id, req))
        .await?;
    Ok(HttpResponse::Created().json(begun))
}

async fn webauthn_register_finish(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<webauthn::RegisterFinishRequest>,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta, req) = (
        state.env.clone(),
        state.keys.clone(),
        meta.0,
        body.into_inner(),
    );
    let hash = token_hash(&authed.token);
    let key = state
        .store
        .run(move |conn| webauthn::register_finish(conn, &env, &svc, &meta, &hash, req))
        .await?;
    Ok(HttpResponse::Created().json(key))
}

/// A proof with a security key: the options for `navigator.credentials.get`.
async fn webauthn_login_begin(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta) = (state.env.clone(), state.keys.clone(), meta.0);
    let (hash, user_id) = (token_hash(&authed.token), authed.actor.user_id.clone());
    let begun = state
        .store
        .run(move |conn| webauthn::login_begin(conn, &env, &svc, &meta, &hash, &user_id))
        .await?;
    Ok(HttpResponse::Created().json(begun))
}

async fn webauthn_login_finish(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    body: web::Json<webauthn::LoginFinishRequest>,
) -> Result<HttpResponse, ApiError> {
    let (env, svc, meta, req) = (
        state.env.clone(),
        state.keys.clone(),
        meta.0,
        body.into_inner(),
    );
    let hash = token_hash(&authed.token);
    let ok = state
        .store
        .run(move |conn| webauthn::login_finish(conn, &env, &svc, &meta, &hash, req))
        .await?;
    Ok(HttpResponse::Ok().json(ok))
}
