//! The pipeline board (columns by stage, totals per stage and currency), a
//! deal's page (details and stage history) and the deal forms. A deal moves by
//! the form on its card; `static/work.js` adds dragging, which fills and sends
//! that same form. Everything goes through `state.gate`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::clients::chrome;
use super::{Chrome, render, see_other};
use crate::access::{Action, GateError, Object};
use crate::crm::deals::{
    AmountInput, Deal, DealPatch, NewDeal, Stage, StageInput, StageKind, StageMove,
};
use crate::i18n::Localizer;
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pipeline", web::get().to(board))
        .route("/pipeline/stages", web::post().to(save_stage))
        .service(
            web::resource("/deals/{id}")
                .route(web::get().to(deal_page))
                .route(web::post().to(save_deal)),
        )
        .route("/deals/{id}/stage", web::post().to(move_stage))
        .route("/clients/{id}/deals", web::post().to(create))
        .route("/static/work.js", web::get().to(js))
        .route("/static/work.css", web::get().to(css));
}

const WORK_JS: &str = include_str!("../../../static/work.js");
const WORK_CSS: &str = include_str!("../../../static/work.css");

async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(WORK_JS)
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(WORK_CSS)
}

/// Validation messages are shown with the form, so the page answers 200 (the
/// envelope middleware would replace a 4xx body with its error page).
const FORM_ERROR: StatusCode = StatusCode::OK;

pub(super) fn money(amount: rust_decimal::Decimal, currency: &str) -> String {
    format!("{amount} {currency}")
}

/// A stage's name for the reader: the usual ones translated, others as the
/// owner wrote them.
pub(super) fn stage_label(t: &Localizer, stage: &Stage) -> String {
    let key = format!("deal-stage-{}", stage.code);
    let builtin = ["new", "qualified", "proposal", "negotiation", "won", "lost"];
    if builtin.contains(&stage.code.as_str())
        && t.has(&key)
        && stage.label == default_label(&stage.code)
    {
        t.t(&key)
    } else {
        stage.label.clone()
    }
}

fn default_label(code: &str) -> String {
    let mut c = code.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn deal_href(id: &str) -> String {
    format!("/deals/{}", urlencoding::encode(id))
}

fn client_href(id: &str) -> String {
    format!("/clients/{}", urlencoding::encode(id))
}

struct StageChoice {
    code: String,
    label: String,
    lost: bool,
    selected: bool,
}

fn choices(t: &Localizer, stages: &[Stage], current: &str) -> Vec<StageChoice> {
    stages
        .iter()
        .filter(|s| s.active || s.code == current)
        .map(|s| StageChoice {
            code: s.code.clone(),
            label: stage_label(t, s),
            lost: s.kind == StageKind::Lost,
            selected: s.code == current,
        })
        .collect()
}

struct CardView {
    id: String,
    href: String,
    title: String,
    client: Option<(String, String)>,
    amount: String,
    close: Option<String>,
    owner: Option<String>,
    lost_reason: Option<String>,
    choices: Vec<StageChoice>,
    error: Option<String>,
    reason_value: String,
}

struct ColumnView {
    code: String,
    label: String,
    lost: bool,
    count: i64,
    totals: Vec<String>,
    cards: Vec<CardView>,
    more: i64,
}

#[derive(Template)]
#[template(path = "pipeline.html")]
struct BoardPage {
    c: Chrome,
    columns: Vec<ColumnView>,
    notice: Option<String>,
    /// Owners edit the stages below the board.
    stages: Option<Vec<StageRow>>,
    stage_error: Option<String>,
}

struct StageRow {
    code: String,
    label: String,
    position: i32,
    kind: &'static str,
    active: bool,
}

#[derive(Deserialize, Default)]
struct BoardParams {
    #[serde(default)]
    done: String,
}

/// A failed move shown on its card: the deal, the message, the reason typed.
struct MoveError {
    deal: String,
    message: String,
    reason: String,
}

fn card_view(t: &Localizer, stages: &[Stage], d: &Deal, err: Option<&MoveError>) -> CardView {
    let mine = err.filter(|e| e.deal == d.id);
    CardView {
        href: deal_href(&d.id),
        client: d
            .client
            .name
            .clone()
            .map(|n| (n, client_href(&d.client.id))),
        title: d.title.clone(),
        amount: money(d.amount, &d.currency),
        close: d.expected_close.map(|x| x.format("%Y-%m-%d").to_string()),
        owner: d.owner.as_ref().map(|o| o.name.clone()),
        lost_reason: d.lost_reason.clone(),
        choices: choices(t, stages, &d.stage),
        error: mine.map(|e| e.message.clone()),
        reason_value: mine.map(|e| e.reason.clone()).unwrap_or_default(),
        id: d.id.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn board_page(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    status: StatusCode,
    notice: Option<String>,
    err: Option<MoveError>,
    stage_error: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let board = state.gate.pipeline(&authed.actor, &meta.0, None).await?;
    let stages = state.gate.deal_stages().await?;
    let columns = board
        .columns
        .iter()
        .map(|col| ColumnView {
            code: col.stage.code.clone(),
            label: stage_label(&t, &col.stage),
            lost: col.stage.kind == StageKind::Lost,
            count: col.count,
            totals: col
                .totals
                .iter()
                .map(|x| money(x.amount, &x.currency))
                .collect(),
            more: col.count - i64::try_from(col.deals.len()).unwrap_or(0),
            cards: col
                .deals
                .iter()
                .map(|d| card_view(&t, &stages, d, err.as_ref()))
                .collect(),
        })
        .collect();
    let stage_rows = state
        .gate
        .can(&authed.actor, Object::DealStages, Action::Update)
        .then(|| {
            stages
                .iter()
                .map(|s| StageRow {
                    code: s.code.clone(),
                    label: s.label.clone(),
                    position: s.position,
                    kind: s.kind.as_str(),
                    active: s.active,
                })
                .collect()
        });
    let page = BoardPage {
        columns,
        notice,
        stages: stage_rows,
        stage_error,
        c: chrome(state, t, authed),
    };
    render(status, &page)
}

async fn board(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    params: web::Query<BoardParams>,
) -> Result<HttpResponse, ApiError> {
    let notice = match params.done.as_str() {
        "moved" => Some(lang.0.t("notice-deal-moved")),
        "stage" => Some(lang.0.t("notice-stage-saved")),
        _ => None,
    };
    board_page(
        &state,
        &authed,
        &meta,
        lang.0,
        StatusCode::OK,
        notice,
        None,
        None,
    )
    .await
}

#[derive(Deserialize)]
struct MoveForm {
    stage: String,
    #[serde(default)]
    lost_reason: String,
    /// Where to go back to: the board (default) or the deal's page.
    #[serde(default)]
    back: String,
}

async fn move_stage(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let mv = StageMove {
        stage: form.stage.clone(),
        lost_reason: Some(form.lost_reason.clone()).filter(|s| !s.trim().is_empty()),
    };
    match state.gate.move_deal(&authed.actor, &meta.0, &id, mv).await {
        Ok(_) if form.back == "deal" => Ok(see_other(&format!("{}?done=moved", deal_href(&id)))),
        Ok(_) => Ok(see_other(&format!(
            "/pipeline?done=moved#deal-{}",
            urlencoding::encode(&id)
        ))),
        Err(GateError::Invalid { msg, .. }) => {
            let err = MoveError {
                deal: id.into_inner(),
                message: lang.0.msg(&msg),
                reason: form.lost_reason,
            };
            board_page(
                &state,
                &authed,
                &meta,
                lang.0,
                FORM_ERROR,
                None,
                Some(err),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct StageForm {
    code: String,
    label: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    active: String,
}

/// An owner adds or edits a stage (the gate checks the role and audits it).
async fn save_stage(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    form: web::Form<StageForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let kind = match form.kind.as_str() {
        "won" => Some(StageKind::Won),
        "lost" => Some(StageKind::Lost),
        "open" => Some(StageKind::Open),
        _ => None,
    };
    let input = StageInput {
        label: form.label,
        position: form.position.trim().parse().ok(),
        kind,
        active: Some(!form.active.is_empty()),
    };
    let code = form.code.trim().to_string();
    match state
        .gate
        .upsert_deal_stage(&authed.actor, &meta.0, &code, input)
        .await
    {
        Ok(_) => Ok(see_other("/pipeline?done=stage#stages")),
        Err(GateError::Invalid { msg, .. }) => {
            let message = lang.0.msg(&msg);
            board_page(
                &state,
                &authed,
                &meta,
                lang.0,
                FORM_ERROR,
                None,
                None,
                Some(message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

struct ChangeView {
    from: Option<String>,
    to: String,
    reason: Option<String>,
    at: super::audit::Stamp,
    by: Option<String>,
}

#[derive(Template)]
#[template(path = "deal.html")]
struct DealPage {
    c: Chrome,
    card: CardView,
    /// The edit form: what the deal holds, or what was typed when refused.
    edit: DealForm,
    edit_field: String,
    edit_error: Option<String>,
    stage: String,
    history: Vec<ChangeView>,
    notice: Option<String>,
}

async fn deal_page(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    params: web::Query<BoardParams>,
) -> Result<HttpResponse, ApiError> {
    let notice = match params.done.as_str() {
        "moved" => Some(lang.0.t("notice-deal-moved")),
        "saved" => Some(lang.0.t("notice-saved")),
        _ => None,
    };
    show_deal(&state, &authed, &meta, lang.0, &id, notice, None).await
}

/// The deal page; `refused` is a failed edit: what was typed, the field, the message.
async fn show_deal(
    state: &AppState,
    authed: &Authed,
    meta: &Meta,
    t: Localizer,
    id: &str,
    notice: Option<String>,
    refused: Option<(DealForm, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.gate.deal(&authed.actor, &meta.0, id).await?;
    let stages = state.gate.deal_stages().await?;
    let label_of = |code: &str| {
        stages
            .iter()
            .find(|s| s.code == code)
            .map(|s| stage_label(&t, s))
            .unwrap_or_else(|| code.to_string())
    };
    let history = detail
        .history
        .iter()
        .map(|h| ChangeView {
            from: h.from_stage.as_deref().map(label_of),
            to: label_of(&h.to_stage),
            reason: h.lost_reason.clone(),
            at: super::audit::stamp(&t, &h.at),
            by: h.by.as_ref().map(|u| u.name.clone()),
        })
        .collect();
    let d = &detail.deal;
    let (edit, edit_field, edit_error) = match refused {
        Some((form, field, message)) => (form, field, Some(message)),
        None => (
            DealForm {
                title: d.title.clone(),
                amount: d.amount.to_string(),
                currency: d.currency.clone(),
                expected_close: d
                    .expected_close
                    .map(|x| x.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            },
            String::new(),
            None,
        ),
    };
    let page = DealPage {
        edit,
        edit_field,
        edit_error,
        stage: label_of(&detail.deal.stage),
        card: card_view(&t, &stages, &detail.deal, None),
        history,
        notice,
        c: chrome(state, t, authed),
    };
    render(StatusCode::OK, &page)
}

/// The deal page's edit form: only the fields that changed are sent.
async fn save_deal(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<DealForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let current = state.gate.deal(&authed.actor, &meta.0, &id).await?.deal;
    let close = current
        .expected_close
        .map(|x| x.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let patch = DealPatch {
        title: (form.title != current.title).then(|| form.title.clone()),
        amount: (form.amount.trim() != current.amount.to_string())
            .then(|| AmountInput::Text(form.amount.clone())),
        currency: (form.currency.trim() != current.currency).then(|| form.currency.clone()),
        expected_close: (form.expected_close.trim() != close)
            .then(|| Some(form.expected_close.clone()).filter(|s| !s.trim().is_empty())),
        ..DealPatch::default()
    };
    match state
        .gate
        .update_deal(&authed.actor, &meta.0, &id, patch)
        .await
    {
        Ok(_) => Ok(see_other(&format!("{}?done=saved", deal_href(&id)))),
        Err(GateError::Invalid { field, msg }) => {
            let message = lang.0.msg(&msg);
            show_deal(
                &state,
                &authed,
                &meta,
                lang.0,
                &id,
                None,
                Some((form, field, message)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default, Clone)]
struct DealForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    expected_close: String,
}

#[derive(Template)]
#[template(path = "deal_form.html")]
struct DealFormPage {
    c: Chrome,
    action: String,
    back: String,
    form: DealForm,
    field: String,
    message: String,
}

impl DealPage {
    fn err(&self, field: &str) -> bool {
        self.edit_field == field
    }
}

impl DealFormPage {
    fn err(&self, field: &str) -> Option<&str> {
        (self.field == field).then_some(self.message.as_str())
    }
}

/// A new deal from the client card.
async fn create(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<DealForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let input = NewDeal {
        client_id: id.to_string(),
        title: form.title.clone(),
        amount: AmountInput::Text(form.amount.clone()),
        currency: form.currency.clone(),
        expected_close: Some(form.expected_close.clone()),
        stage: None,
        lost_reason: None,
        owner_id: None,
    };
    match state.gate.create_deal(&authed.actor, &meta.0, input).await {
        Ok(_) => Ok(see_other(&format!("{}?done=deal#deals", client_href(&id)))),
        Err(GateError::Invalid { field, msg }) => {
            let page = DealFormPage {
                action: format!("{}/deals", client_href(&id)),
                back: client_href(&id),
                form,
                field,
                message: lang.0.msg(&msg),
                c: chrome(&state, lang.0, &authed),
            };
            render(FORM_ERROR, &page)
        }
        Err(e) => Err(e.into()),
    }
}
