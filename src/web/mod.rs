//! HTTP: actix-web over rustls, the JSON API under `/api/v1`, server-rendered
//! pages, and the middleware every response passes (request id, security headers,
//! CSRF, error bodies). Handlers reach client data only through `access::Gate`.

pub mod api;
pub mod auth;
mod backup_jobs;
pub mod error;
mod jobs;
pub mod middleware;
pub mod notify_jobs;
pub mod pages;
pub mod tls;
pub mod work_jobs;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};

use crate::access::{AdminGate, Gate, KeyRules, Policy};
use crate::audit::values::ValuePolicy;
use crate::audit::{AuditLog, checkpoint};
use crate::clock::Env;
use crate::config::{ChangedValues, Config};
use crate::i18n::I18n;
use crate::identity::login;
use crate::keys::{KeyService, TrustStore};
use crate::store::Store;
use error::ApiError;

/// Everything a handler may use; passed as `web::Data<AppState>`, never global.
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub gate: Gate,
    /// Privileged operations that are not client data: keys and user accounts.
    pub admin: AdminGate,
    /// Hardware-key enrollment and proofs (trust roots, configuration, origin).
    pub keys: KeyService,
    pub env: Env,
    pub i18n: Arc<I18n>,
    /// Checked when a login names an unknown user, so timing reveals nothing.
    pub dummy_hash: String,
    pub headers: middleware::SecurityHeaders,
    /// Group-commit writer for events outside a data transaction.
    pub audit: AuditLog,
    pub checkpoints: Checkpoints,
}

/// The checkpoint signer and where checkpoints are sent.
#[derive(Clone)]
pub struct Checkpoints {
    pub signer: Arc<checkpoint::Signer>,
    pub exports: checkpoint::Exports,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Setup(String),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    pub async fn new(config: Config, store: Store, env: Env) -> Result<AppState, ServeError> {
        let policy = Policy::load(config.access.policy_dir.as_deref())
            .await
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        let values = match config.audit.changed_values {
            ChangedValues::Keep => ValuePolicy::Keep,
            ChangedValues::Hash => {
                ValuePolicy::hashed(&config.audit.values_key_path(&config.data_dir))
                    .map_err(|e| ServeError::Setup(format!("audit values key: {e}")))?
            }
        };
        let audit = AuditLog::start(store.clone(), env.clone(), values)
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        let signer =
            checkpoint::Signer::load_or_create(&config.audit.signing_key_path(&config.data_dir))
                .map_err(|e| ServeError::Setup(format!("audit checkpoint key: {e}")))?;
        let checkpoints = Checkpoints {
            signer: Arc::new(signer),
            exports: checkpoint::Exports::from_config(&config)
                .map_err(|e| ServeError::Setup(format!("audit checkpoints: {e}")))?,
        };
        let gate = Gate::new(
            store.clone(),
            Arc::new(policy),
            env.clone(),
            config.crm.default_phone_region.clone(),
            config.intake.default_owner.clone(),
            audit.clone(),
        )
        .with_key_rules(KeyRules::from_config(&config.keys))
        .with_guard_rules(
            crate::exports::GuardRules::from_config(&config).map_err(ServeError::Setup)?,
        )
        .with_detection(
            crate::access::DetectRules::from_config(&config).map_err(ServeError::Setup)?,
        );
        let admin = AdminGate::new(
            store.clone(),
            gate.policy().clone(),
            env.clone(),
            gate.key_rules().clone(),
            config.keys.clone(),
        );
        let trust = TrustStore::load(config.keys.trust_dir.as_deref(), config.keys.builtin_roots)
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        let webauthn =
            crate::keys::webauthn::WebauthnKeys::from_config(&config.keys, &config.base_url())
                .map_err(|e| ServeError::Setup(e.to_string()))?;
        let keys = KeyService {
            cfg: config.keys.clone(),
            trust,
            origin: config.base_url(),
            webauthn: Arc::new(webauthn),
        };
        let i18n = I18n::load().map_err(|e| ServeError::Setup(e.to_string()))?;
        let dummy_hash = login::dummy_hash(&env).map_err(|e| ServeError::Setup(e.to_string()))?;
        let headers = middleware::SecurityHeaders::new(!config.server.plain_http);
        Ok(AppState {
            config: Arc::new(config),
            store,
            gate,
            admin,
            keys,
            env,
            i18n,
            dummy_hash,
            headers,
            audit,
            checkpoints,
        })
    }
}

/// Mounts every route and the request-wide configuration.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let limit = state.config.server.body_limit;
        cfg.app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .content_type_required(true)
                    .error_handler(|e, _| ApiError::from(e).into()),
            )
            .app_data(
                web::FormConfig::default()
                    .limit(limit)
                    .error_handler(|e, _| ApiError::from(e).into()),
            )
            .app_data(web::PayloadConfig::default().limit(limit))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
            .app_data(
                web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("query string: {e}")).into()
                }),
            )
            .configure(api::configure)
            .configure(pages::configure);
    }
}

pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure(state))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
        }))
        .wrap(actix_web::middleware::from_fn(middleware::csrf))
        .wrap(actix_web::middleware::from_fn(middleware::envelope))
}

/// Runs the server on `listener` until SIGTERM/SIGINT, then drains in-flight
/// requests for `shutdown_timeout_secs`.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
) -> Result<(), ServeError> {
    let state = web::Data::new(state);
    let workers = match state.config.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let shutdown = state.config.server.shutdown_timeout_secs;
    let factory_state = state.clone();
    let server = HttpServer::new(move || app(factory_state.clone()))
        .workers(workers)
        .shutdown_timeout(shutdown);
    let server = match tls {
        Some(cfg) => server.listen_rustls_0_23(listener, cfg)?,
        None => server.listen(listener)?,
    };
    let cfg = &state.config.audit;
    let periodic = tokio::spawn(checkpoint::run_periodic(
        state.store.clone(),
        state.checkpoints.signer.clone(),
        state.env.clone(),
        state.checkpoints.exports.clone(),
        cfg.checkpoint_every_events,
        cfg.checkpoint_every_secs,
    ));
    backup_jobs::sweep_interrupted(&state).await;
    let mut jobs = jobs::start(&state).await?;
    let served = server.run().await;
    periodic.abort();
    if let Err(e) = jobs.shutdown().await {
        tracing::warn!(error = %e, "stopping scheduled jobs");
    }
    // One more checkpoint at every graceful stop, so the last events are covered.
    match checkpoint::make_and_send(
        &state.store,
        &state.checkpoints.signer,
        &state.env,
        &state.checkpoints.exports,
    )
    .await
    {
        Ok(Some(cp)) => tracing::info!(seq = cp.seq, "audit checkpoint at shutdown"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "audit checkpoint at shutdown failed"),
    }
    served?;
    tracing::info!("server stopped");
    Ok(())
}
