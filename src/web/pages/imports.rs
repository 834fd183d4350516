//! The import pages: the upload form with one's recent imports (`/imports`),
//! and a staged import's preview (`/imports/{id}`): the detected encoding and
//! delimiter, the first rows, a field for each column, the duplicate policy
//! (global and per duplicate), every row problem, and the commit button. The
//! file goes up through `static/app.js` as the raw body of the API's upload
//! (never re-encoded by a form); everything else is plain forms.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::clients::chrome;
use super::{Chrome, render, see_other};
use crate::access::GateError;
use crate::crm::imports::{DupPolicy, ImportSummary, ImportView, Settings};
use crate::i18n::{Localizer, Msg};
use crate::web::AppState;
use crate::web::auth::{Authed, Lang, Meta};
use crate::web::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/imports", web::get().to(index))
        .route("/imports/{id}", web::get().to(show))
        .route("/imports/{id}/settings", web::post().to(save))
        .route("/imports/{id}/commit", web::post().to(commit))
        .route("/imports/{id}/discard", web::post().to(discard));
}

#[derive(Template)]
#[template(path = "imports.html")]
struct IndexPage {
    c: Chrome,
    max_size: String,
    items: Vec<ImportSummary>,
}

async fn index(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
) -> Result<HttpResponse, ApiError> {
    let items = state.gate.import_list(&authed.actor, &meta.0).await?;
    let page = IndexPage {
        max_size: crate::crm::import_csv::size_label(state.config.import.max_bytes),
        items,
        c: chrome(&state, lang.0, &authed),
    };
    render(StatusCode::OK, &page)
}

struct ColumnChoice {
    index: usize,
    header: String,
    options: Vec<(String, String, bool)>,
}

struct IssueLine {
    row: usize,
    place: String,
    message: String,
}

struct DupLine {
    row: usize,
    what: String,
    href: Option<String>,
    by_label: String,
    action: &'static str,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ShowPage {
    c: Chrome,
    v: ImportView,
    detected: String,
    columns: Vec<ColumnChoice>,
    policy: &'static str,
    issues: Vec<IssueLine>,
    dups: Vec<DupLine>,
    kept: Vec<String>,
    summary: String,
    done: Option<String>,
    notice: Option<String>,
    create_count: usize,
}

fn field_label(t: &Localizer, f: &str) -> String {
    let key = format!("import-field-{f}");
    if t.has(&key) {
        t.t(&key)
    } else {
        f.to_string()
    }
}

fn show_page(
    state: &AppState,
    authed: &Authed,
    t: Localizer,
    v: ImportView,
    notice: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let delimiter = match v.delimiter.as_str() {
        "\t" => "tab".to_string(),
        d => d.to_string(),
    };
    let detected = t.msg(
        &Msg::new("import-detected")
            .arg("encoding", &v.encoding)
            .arg("delimiter", delimiter)
            .arg("rows", v.summary.rows),
    );
    let columns = v
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let current = v.mapping.get(i).cloned().flatten();
            let mut options = vec![(String::new(), t.t("import-ignore"), current.is_none())];
            options.extend(v.fields.iter().map(|f| {
                (
                    f.to_string(),
                    field_label(&t, f),
                    current.as_deref() == Some(*f),
                )
            }));
            ColumnChoice {
                index: i,
                header: h.clone(),
                options,
            }
        })
        .collect();
    let issues = v
        .mapping_issues
        .iter()
        .chain(v.issues.iter())
        .map(|i| IssueLine {
            row: i.row,
            place: match (i.column, &i.header) {
                (Some(col), Some(h)) => t.msg(
                    &Msg::new("import-problem-column")
                        .arg("column", col)
                        .arg("header", h),
                ),
                _ => i.field.clone(),
            },
            message: t.msg(&i.msg),
        })
        .collect();
    let dups = v
        .duplicates
        .iter()
        .map(|d| DupLine {
            row: d.row,
            what: match (&d.client_name, d.same_as_row) {
                (Some(n), _) => n.clone(),
                (None, Some(r)) => t.t1("import-same-as-row", "row", r),
                _ => String::new(),
            },
            href: d
                .client_id
                .as_ref()
                .map(|id| format!("/clients/{}", urlencoding::encode(id))),
            by_label: t.t(&format!("import-by-{}", d.by)),
            action: d.action.as_str(),
        })
        .collect();
    let kept = v
        .kept
        .iter()
        .map(|k| {
            t.msg(
                &Msg::new("import-kept")
                    .arg("field", field_label(&t, k.field))
                    .arg("row", k.row),
            )
        })
        .collect();
    let s = &v.summary;
    let summary = t.msg(
        &Msg::new("import-summary")
            .arg("create", s.create)
            .arg("merge", s.merge)
            .arg("skip", s.skip)
            .arg("errors", s.errors),
    );
    let done = v.result.as_ref().map(|r| {
        t.msg(
            &Msg::new("import-done")
                .arg("created", r.created.len())
                .arg("merged", r.merged.len())
                .arg("skipped", r.skipped),
        )
    });
    let page = ShowPage {
        policy: v.policy.as_str(),
        create_count: s.create + s.merge,
        detected,
        columns,
        issues,
        dups,
        kept,
        summary,
        done,
        notice,
        c: chrome(state, t, authed),
        v,
    };
    render(StatusCode::OK, &page)
}

async fn show(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let v = state.gate.import_show(&authed.actor, &meta.0, &id).await?;
    show_page(&state, &authed, lang.0, v, None)
}

/// The settings form: `col_N` (a field or empty), `policy`, `dup_ROW`.
fn settings_of(form: &[(String, String)]) -> Settings {
    let mut mapping: BTreeMap<usize, Option<String>> = BTreeMap::new();
    let mut decisions = BTreeMap::new();
    let mut policy = None;
    for (k, v) in form {
        if let Some(i) = k.strip_prefix("col_").and_then(|i| i.parse::<usize>().ok()) {
            mapping.insert(i, Some(v.clone()).filter(|v| !v.is_empty()));
        } else if let Some(row) = k.strip_prefix("dup_") {
            if let Some(p) = DupPolicy::parse(v) {
                decisions.insert(row.to_string(), p);
            }
        } else if k == "policy" {
            policy = DupPolicy::parse(v);
        }
    }
    let mapping = (!mapping.is_empty()).then(|| {
        let n = mapping.keys().next_back().map_or(0, |k| k + 1);
        (0..n).map(|i| mapping.get(&i).cloned().flatten()).collect()
    });
    Settings {
        mapping,
        policy,
        decisions: Some(decisions),
    }
}

/// A refusal the page shows next to the form; anything else is an error page.
fn notice_of(t: &Localizer, e: GateError) -> Result<String, ApiError> {
    match e {
        GateError::Invalid { msg, .. } => Ok(t.msg(&msg)),
        GateError::Conflict(m) => Ok(m),
        other => Err(other.into()),
    }
}

async fn save(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let settings = settings_of(&form);
    match state
        .gate
        .import_configure(&authed.actor, &meta.0, &id, settings)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/imports/{}", urlencoding::encode(&id)))),
        Err(e) => {
            let notice = notice_of(&lang.0, e)?;
            let v = state.gate.import_show(&authed.actor, &meta.0, &id).await?;
            show_page(&state, &authed, lang.0, v, Some(notice))
        }
    }
}

async fn commit(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    lang: Lang,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    // The commit button sits in the settings form: what is on screen is saved
    // (so a refused commit shows its problems under these settings), then committed.
    let settings = settings_of(&form);
    let committed = match state
        .gate
        .import_configure(&authed.actor, &meta.0, &id, settings)
        .await
    {
        Ok(_) => {
            state
                .gate
                .import_commit(&authed.actor, &meta.0, &id, Settings::default())
                .await
        }
        Err(e) => Err(e),
    };
    match committed {
        Ok(_) => Ok(see_other(&format!("/imports/{}", urlencoding::encode(&id)))),
        Err(e) => {
            let notice = notice_of(&lang.0, e)?;
            let v = state.gate.import_show(&authed.actor, &meta.0, &id).await?;
            show_page(&state, &authed, lang.0, v, Some(notice))
        }
    }
}

async fn discard(
    state: web::Data<AppState>,
    authed: Authed,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .gate
        .import_discard(&authed.actor, &meta.0, &id)
        .await?;
    Ok(see_other("/imports"))
}
