//! Theft detection at the door. The audit append keeps per-user counters
//! (`audit::usage`); after each request by a watched role the Gate compares
//! today's numbers with the user's baseline (the median of the last days) and
//! the floors of `[detection]`, and watches the rates of lists and cards, runs
//! of refusals and use outside working hours. A tripped rule raises an alert
//! (deduplicated per user, rule and day) that cites the counted audit events,
//! and applies the responses configured for its severity, each audited. Before
//! each request the restrictions those responses left are enforced.

use chrono::{Datelike, NaiveTime, Timelike};
use diesel::prelude::*;
use serde_json::json;

use super::gate_exports::{Fail, record_seq};
use super::{Gate, GateError, who_of};
use crate::access::clearance::Refusal;
use crate::alerts::{Audience, NewAlert, Severity};
use crate::audit::usage::{self, STREAK};
use crate::audit::{Event, Outcome, RequestMeta};
use crate::clock::Env;
use crate::config::DetectionConfig;
use crate::identity::{Actor, Role};
use crate::store::schema::{sessions, usage_counts, user_restrictions, users};
use crate::store::{DbConn, StoreError, write_tx};

/// `[detection]` as the Gate applies it.
#[derive(Debug, Clone)]
pub struct DetectRules {
    cfg: DetectionConfig,
    time_zone: chrono_tz::Tz,
}

impl Default for DetectRules {
    fn default() -> Self {
        DetectRules {
            cfg: DetectionConfig::default(),
            time_zone: chrono_tz::UTC,
        }
    }
}

impl DetectRules {
    pub fn from_config(cfg: &crate::config::Config) -> Result<DetectRules, String> {
        let d = cfg.detection.clone();
        for t in [&d.work_start, &d.work_end] {
            NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("detection: `{t}` is not a time like 07:00"))?;
        }
        for (team, h) in &d.teams {
            if let Some(tz) = &h.time_zone
                && tz.parse::<chrono_tz::Tz>().is_err()
            {
                return Err(format!("detection.teams.{team}: unknown time zone `{tz}`"));
            }
            for t in [&h.work_start, &h.work_end].into_iter().flatten() {
                NaiveTime::parse_from_str(t, "%H:%M")
                    .map_err(|_| format!("detection.teams.{team}: `{t}` is not a time"))?;
            }
        }
        for r in d.warning.iter().chain(&d.high).chain(&d.critical) {
            if !["notify", "step_up", "suspend_exports", "lock"].contains(&r.as_str()) {
                return Err(format!("detection: unknown response `{r}`"));
            }
        }
        if d.k < 1.0 || d.baseline_days < 1 {
            return Err("detection: k must be at least 1 and baseline_days at least 1".into());
        }
        Ok(DetectRules {
            cfg: d,
            time_zone: cfg.time_zone(),
        })
    }

    fn responses(&self, s: Severity) -> &[String] {
        match s {
            Severity::Info | Severity::Warning => &self.cfg.warning,
            Severity::High => &self.cfg.high,
            Severity::Critical => &self.cfg.critical,
        }
    }

    /// Outside the user's team's (or the company's) working hours?
    fn off_hours(&self, team: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> bool {
        let t = team.and_then(|t| self.cfg.teams.get(t));
        let tz = t
            .and_then(|t| t.time_zone.as_deref())
            .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(self.time_zone);
        let start = t
            .and_then(|t| t.work_start.as_deref())
            .unwrap_or(&self.cfg.work_start);
        let end = t
            .and_then(|t| t.work_end.as_deref())
            .unwrap_or(&self.cfg.work_end);
        let days = t
            .and_then(|t| t.work_days.as_ref())
            .unwrap_or(&self.cfg.work_days);
        let local = now.with_timezone(&tz);
        let minute = local.hour() * 60 + local.minute();
        let parse = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map(|t| t.hour() * 60 + t.minute())
                .unwrap_or(0)
        };
        !days.contains(&local.weekday().number_from_monday())
            || minute < parse(start)
            || minute >= parse(end)
    }
}

/// One rule: the metric it reads, its floor, whether a baseline applies.
struct Rule {
    metric: &'static str,
    floor: i64,
    baseline: bool,
    severity: Severity,
    what: &'static str,
    /// After an owner acknowledged its alert, the rule fires again only when
    /// the same count has grown by another `floor` (a new day, window or run
    /// of refusals starts afresh). Without it any further use fires again.
    rearm: bool,
}

fn rules(c: &DetectionConfig) -> [Rule; 9] {
    let r = |metric, floor, baseline, severity, what| Rule {
        metric,
        floor,
        baseline,
        severity,
        what,
        rearm: true,
    };
    [
        r(
            "views",
            c.views_per_day,
            true,
            Severity::High,
            "opened more client cards than usual",
        ),
        r(
            "list_rows",
            c.list_rows_per_day,
            true,
            Severity::High,
            "paged through far more of the list than usual",
        ),
        r(
            "exports",
            c.exports_per_day,
            true,
            Severity::High,
            "asked for more exports than usual",
        ),
        r(
            "reveals",
            c.reveals_per_day,
            true,
            Severity::Warning,
            "revealed more masked contacts than usual",
        ),
        r(
            "reassigns",
            c.reassigns_per_day,
            true,
            Severity::High,
            "reassigned more clients than usual",
        ),
        r(
            "list_pages_min",
            c.list_pages_per_minute,
            false,
            Severity::High,
            "walked the list faster than a person reads",
        ),
        r(
            "cards_10min",
            c.cards_per_ten_minutes,
            false,
            Severity::High,
            "opened cards one after another faster than a person works",
        ),
        r(
            "denied_run",
            c.denials_in_a_row,
            false,
            Severity::Warning,
            "was refused many times in a row",
        ),
        r(
            "off_hours",
            c.off_hours_events,
            true,
            Severity::Warning,
            "worked with client data outside working hours",
        ),
    ]
}

fn median(mut v: Vec<i64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

/// The `[detection.teams]` key of the actor's team: its id, or its name when
/// the configuration names teams (what `holdfast user list` shows). The id wins
/// when both are there; no lookup when no team is configured.
fn team_key(
    conn: &mut DbConn,
    rules_cfg: &DetectRules,
    team_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    use crate::store::schema::teams;
    let Some(id) = team_id else {
        return Ok(None);
    };
    let configured = &rules_cfg.cfg.teams;
    if configured.is_empty() || configured.contains_key(id) {
        return Ok(Some(id.to_string()));
    }
    let name: Option<String> = teams::table
        .find(id)
        .select(teams::name)
        .first(conn)
        .optional()?;
    Ok(match name {
        Some(n) if configured.contains_key(&n) => Some(n),
        _ => Some(id.to_string()),
    })
}

fn is_leaving(conn: &mut DbConn, user: &str) -> Result<bool, StoreError> {
    let n: i64 = user_restrictions::table
        .filter(user_restrictions::user_id.eq(user))
        .filter(user_restrictions::kind.eq("leaving"))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// What a user marked as leaving may still do: read.
fn reads_only(event: &str) -> bool {
    event.ends_with(".read") || event.ends_with(".list") || event == "client.reveal"
}

fn watched(actor: &Actor) -> bool {
    matches!(actor.role, Role::Sales | Role::Manager)
}

/// (metric, day, n, first_seq, last_seq)
type Count = (String, String, i64, i64, i64);

/// The actor's counters that rules read now: today's, the streak, the windows.
fn current_counts(
    conn: &mut DbConn,
    user: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Count>, StoreError> {
    Ok(usage_counts::table
        .filter(usage_counts::user_id.eq(user))
        .filter(
            usage_counts::day
                .eq(usage::day_key(now.naive_utc()))
                .or(usage_counts::day.eq(STREAK))
                .or(usage_counts::day.eq(usage::minute_key(now.naive_utc())))
                .or(usage_counts::day.eq(usage::ten_minute_key(now.naive_utc()))),
        )
        .select((
            usage_counts::metric,
            usage_counts::day,
            usage_counts::n,
            usage_counts::first_seq,
            usage_counts::last_seq,
        ))
        .load(conn)?)
}

/// Whether anything could trip: use outside working hours, or a counter over
/// its floor. Read-only, so most requests never open a write transaction.
fn may_trip(
    conn: &mut DbConn,
    rules_cfg: &DetectRules,
    actor: &Actor,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let team = team_key(conn, rules_cfg, actor.team_id.as_deref())?;
    if rules_cfg.off_hours(team.as_deref(), now) || is_leaving(conn, &actor.user_id)? {
        return Ok(true);
    }
    let current = current_counts(conn, &actor.user_id, now)?;
    Ok(rules(&rules_cfg.cfg)
        .iter()
        .any(|r| current.iter().any(|c| c.0 == r.metric && c.2 > r.floor)))
}

/// Compares the actor's counters with their baseline and raises what tripped,
/// with its responses. Runs inside a write transaction.
fn evaluate(
    conn: &mut DbConn,
    env: &Env,
    rules_cfg: &DetectRules,
    actor: &Actor,
    meta: &RequestMeta,
) -> Result<(), Fail> {
    let now = env.now();
    let today = usage::day_key(now.naive_utc());
    let team = team_key(conn, rules_cfg, actor.team_id.as_deref())?;
    if rules_cfg.off_hours(team.as_deref(), now) {
        let (seq, _) = crate::audit::chain::head(conn)?;
        usage::bump(conn, &actor.user_id, "off_hours", &today, 1, seq)?;
    }
    if is_leaving(conn, &actor.user_id)? {
        use crate::store::schema::audit_events as ae;
        let last: Option<i64> = ae::table
            .filter(ae::actor_id.eq(&actor.user_id))
            .filter(ae::at.ge(now.naive_utc() - chrono::Duration::minutes(10)))
            .select(diesel::dsl::max(ae::seq))
            .first(conn)?;
        if let Some(seq) = last {
            let rule = Rule {
                metric: "after_leaving",
                floor: 0,
                baseline: false,
                severity: Severity::Warning,
                what: "used Holdfast after being marked as leaving",
                rearm: false,
            };
            trip(
                conn,
                env,
                rules_cfg,
                actor,
                meta,
                &rule,
                1,
                0.0,
                (seq, seq),
                &today,
            )?;
        }
    }
    let current = current_counts(conn, &actor.user_id, now)?;
    let cfg = &rules_cfg.cfg;
    for rule in rules(cfg) {
        let Some((_, _, n, first, last)) = current.iter().find(|c| c.0 == rule.metric) else {
            continue;
        };
        if *n <= rule.floor {
            continue;
        }
        let mut baseline = 0.0;
        if rule.baseline {
            let from =
                usage::day_key((now - chrono::Duration::days(cfg.baseline_days)).naive_utc());
            let past: Vec<i64> = usage_counts::table
                .filter(usage_counts::user_id.eq(&actor.user_id))
                .filter(usage_counts::metric.eq(rule.metric))
                .filter(usage_counts::day.ge(&from))
                .filter(usage_counts::day.lt(&today))
                .select(usage_counts::n)
                .load(conn)?;
            // Days without a row were days of nothing.
            let mut days = past;
            days.resize(
                usize::try_from(cfg.baseline_days)
                    .unwrap_or(14)
                    .max(days.len()),
                0,
            );
            baseline = median(days);
            if (*n as f64) <= cfg.k * baseline {
                continue;
            }
        }
        trip(
            conn,
            env,
            rules_cfg,
            actor,
            meta,
            &rule,
            *n,
            baseline,
            (*first, *last),
            &today,
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn trip(
    conn: &mut DbConn,
    env: &Env,
    rules_cfg: &DetectRules,
    actor: &Actor,
    meta: &RequestMeta,
    rule: &Rule,
    n: i64,
    baseline: f64,
    (first, last): (i64, i64),
    today: &str,
) -> Result<(), Fail> {
    let dedupe_key = format!("detect:{}:{}:{}", rule.metric, actor.user_id, today);
    if rule.rearm && !rearmed(conn, &dedupe_key, first, n, rule.floor)? {
        return Ok(());
    }
    let alert = NewAlert {
        kind: format!("detect.{}", rule.metric),
        severity: rule.severity,
        audience: Audience::Owners,
        subject_user: Some(actor.user_id.clone()),
        summary: format!(
            "{} ({}) {}: {} (baseline {}, floor {})",
            actor.display_name,
            actor.role.as_str(),
            rule.what,
            n,
            baseline,
            rule.floor
        ),
        detail: json!({
            "metric": rule.metric, "count": n, "baseline": baseline, "floor": rule.floor,
            "k": rules_cfg.cfg.k, "day": today, "first_seq": first, "last_seq": last,
            "audit": format!("/audit/users/{}", actor.user_id),
        }),
        evidence: if first == last {
            vec![last]
        } else {
            vec![first, last]
        },
        dedupe_key: Some(dedupe_key),
    };
    let Some(raised) = crate::alerts::raise(conn, env, &alert)? else {
        return Ok(());
    };
    tracing::warn!(
        user = %actor.user_id,
        rule = rule.metric,
        count = n,
        baseline,
        floor = rule.floor,
        severity = rule.severity.as_str(),
        "detection raised an alert"
    );
    let ev = Event::new("alert.raise", Outcome::Ok)
        .on("alert", [raised.id.clone()])
        .detail(json!({
            "kind": raised.kind, "severity": rule.severity.as_str(),
            "subject_user": raised.subject_user, "evidence": raised.evidence,
        }));
    record_seq(conn, env, meta, &ev)?;
    for response in rules_cfg.responses(rule.severity) {
        respond(conn, env, actor, meta, response, &raised.id)?;
    }
    Ok(())
}

/// Whether a rule whose last alert (same user, rule and day) an owner
/// acknowledged may fire again: when the count it saw belongs to an earlier
/// window or run (`first_seq` differs), or has grown past the count at the
/// acknowledgement by another `floor`. An open alert is deduplicated anyway.
fn rearmed(
    conn: &mut DbConn,
    key: &str,
    first: i64,
    n: i64,
    floor: i64,
) -> Result<bool, StoreError> {
    let Some(prev) = crate::alerts::last_acknowledged(conn, key)? else {
        return Ok(true);
    };
    let d = &prev.detail;
    if d.get("first_seq").and_then(|v| v.as_i64()) != Some(first) {
        return Ok(true);
    }
    let seen = d
        .get("count_at_ack")
        .or_else(|| d.get("count"))
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    Ok(n > seen.saturating_add(floor.max(1)))
}

/// On acknowledging a detection alert: notes the count the rule had reached
/// then (`count_at_ack` in its detail), from which a re-trip is measured.
pub(super) fn note_ack(conn: &mut DbConn, alert: &crate::alerts::Alert) -> Result<(), StoreError> {
    if !alert.kind.starts_with("detect.") {
        return Ok(());
    }
    let (Some(user), Some(metric), Some(first)) = (
        alert.subject_user.as_deref(),
        alert.detail.get("metric").and_then(|v| v.as_str()),
        alert.detail.get("first_seq").and_then(|v| v.as_i64()),
    ) else {
        return Ok(());
    };
    let now: Option<i64> = usage_counts::table
        .filter(usage_counts::user_id.eq(user))
        .filter(usage_counts::metric.eq(metric))
        .filter(usage_counts::first_seq.eq(first))
        .select(usage_counts::n)
        .first(conn)
        .optional()?;
    if let Some(n) = now {
        let mut detail = alert.detail.clone();
        if let Some(m) = detail.as_object_mut() {
            m.insert("count_at_ack".into(), json!(n));
        }
        crate::alerts::set_detail(conn, &alert.id, &detail)?;
    }
    Ok(())
}

/// Applies one response to the user an alert is about, and records it.
fn respond(
    conn: &mut DbConn,
    env: &Env,
    actor: &Actor,
    meta: &RequestMeta,
    response: &str,
    alert_id: &str,
) -> Result<(), Fail> {
    let now = env.now().naive_utc();
    match response {
        "step_up" | "suspend_exports" => {
            let exists = user_restrictions::table
                .filter(user_restrictions::user_id.eq(&actor.user_id))
                .filter(user_restrictions::kind.eq(response))
                .count()
                .get_result::<i64>(conn)?;
            if exists == 0 {
                diesel::insert_into(user_restrictions::table)
                    .values((
                        user_restrictions::user_id.eq(&actor.user_id),
                        user_restrictions::kind.eq(response),
                        user_restrictions::since.eq(now),
                        user_restrictions::alert_id.eq(Some(alert_id)),
                    ))
                    .execute(conn)?;
            }
        }
        "lock" => {
            diesel::update(users::table.find(&actor.user_id))
                .set((users::disabled.eq(true), users::updated_at.eq(now)))
                .execute(conn)?;
            diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(&actor.user_id))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::revoked_at.eq(now))
            .execute(conn)?;
        }
        // In-app: the alert itself is the owners' notice.
        _ => {}
    }
    let ev = Event::new("detect.respond", Outcome::Ok)
        .on("user", [actor.user_id.clone()])
        .detail(json!({ "response": response, "alert": alert_id }));
    record_seq(conn, env, meta, &ev)?;
    Ok(())
}

/// Ends the restrictions an alert's responses set (when an owner acknowledges
/// it); the kinds lifted, for the acknowledgement's audit event.
pub(super) fn lift(conn: &mut DbConn, alert_id: &str) -> Result<Vec<String>, StoreError> {
    let kinds: Vec<String> = user_restrictions::table
        .filter(user_restrictions::alert_id.eq(alert_id))
        .select(user_restrictions::kind)
        .load(conn)?;
    diesel::delete(user_restrictions::table.filter(user_restrictions::alert_id.eq(alert_id)))
        .execute(conn)?;
    Ok(kinds)
}

impl Gate {
    /// Theft detection rules (`[detection]`); defaults without it.
    pub fn with_detection(mut self, rules: DetectRules) -> Gate {
        self.detect = std::sync::Arc::new(rules);
        self
    }

    /// Evaluates the actor's use after a request; a failure here is logged, not
    /// shown: the request itself was already decided and recorded.
    pub(super) async fn watch(&self, actor: &Actor, meta: &RequestMeta) {
        if !self.detect.cfg.enabled || !watched(actor) {
            return;
        }
        let (env, rules, actor2, meta2) = (
            self.env.clone(),
            self.detect.clone(),
            actor.clone(),
            meta.clone(),
        );
        let done = self
            .store
            .run(move |conn| {
                if !may_trip(conn, &rules, &actor2, env.now())? {
                    return Ok(());
                }
                write_tx(conn, |conn| evaluate(conn, &env, &rules, &actor2, &meta2))
                    .map_err(GateError::from)
            })
            .await;
        if let Err(e) = done {
            tracing::error!(error = %e, user = %actor.user_id, "detection failed");
        }
    }

    /// The restrictions a detection response or departure mode left on the
    /// actor: a step-up (any access to client data needs a fresh hardware-key
    /// proof), suspended exports, and leaving (reads only; `true` is returned so
    /// the scope is frozen to the user's own clients). A refusal is audited as
    /// `event`, denied.
    pub(super) async fn restrictions(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        event: &'static str,
        kind: &'static str,
        ids: &[String],
    ) -> Result<bool, GateError> {
        if !watched(actor) {
            return Ok(false);
        }
        let uid = actor.user_id.clone();
        let kinds: Vec<String> = self
            .store
            .run(move |conn| {
                user_restrictions::table
                    .filter(user_restrictions::user_id.eq(&uid))
                    .select(user_restrictions::kind)
                    .load::<String>(conn)
                    .map_err(StoreError::from)
            })
            .await?;
        let leaving = kinds.iter().any(|k| k == "leaving");
        let now = self.env.now();
        let fresh = actor
            .elevation
            .as_ref()
            .is_some_and(|e| e.fresh_at(now, self.keys.step_up_window()));
        let refusal = if kinds.iter().any(|k| k == "step_up") && !fresh {
            Some((
                GateError::KeyProof(Refusal::ProofRequired),
                "detection: hardware key step-up required",
            ))
        } else if kinds.iter().any(|k| k == "suspend_exports") && event.starts_with("export.") {
            Some((
                GateError::NotAllowed(crate::i18n::Msg::new("error-exports-suspended")),
                "detection: exports suspended",
            ))
        } else if leaving && !reads_only(event) {
            Some((
                GateError::NotAllowed(crate::i18n::Msg::new("error-user-leaving")),
                "departure: read-only",
            ))
        } else {
            None
        };
        let Some((err, reason)) = refusal else {
            return Ok(leaving);
        };
        let ev = Event::new(event, Outcome::Denied)
            .by(who_of(actor))
            .on(kind, ids.to_vec())
            .detail(json!({ "reason": reason }));
        self.audit
            .record(meta, &ev)
            .await
            .map_err(GateError::AuditUnavailable)?;
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_counts_quiet_days() {
        assert_eq!(median(vec![0, 0, 10]), 0.0);
        assert_eq!(median(vec![4, 10, 6, 8]), 7.0);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn working_hours_follow_the_team_time_zone() {
        let mut cfg = crate::config::Config::default();
        cfg.detection.teams.insert(
            "east".into(),
            crate::config::TeamHours {
                time_zone: Some("Asia/Tbilisi".into()),
                ..Default::default()
            },
        );
        let r = DetectRules::from_config(&cfg).unwrap();
        // Tuesday 05:00 UTC is 09:00 in Tbilisi, before 07:00 in UTC.
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-24T05:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert!(r.off_hours(None, t));
        assert!(!r.off_hours(Some("east"), t));
        // Sunday is off by default.
        let sunday = t + chrono::Duration::days(5) + chrono::Duration::hours(6);
        assert!(r.off_hours(Some("east"), sunday));
    }
}

/// One user's number today against their baseline, for the owner's page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageLine {
    pub user_id: String,
    pub username: String,
    pub metric: &'static str,
    pub today: i64,
    pub baseline: f64,
    pub floor: i64,
    /// Above both k × baseline and the floor.
    pub over: bool,
}

impl Gate {
    /// Each watched user's daily numbers today against their baseline (owners;
    /// reading it is reading the log, and is recorded as such).
    pub async fn usage_overview(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<Vec<UsageLine>, GateError> {
        let detail = json!({ "view": "usage" });
        self.audit_allowed(actor, meta, super::Action::Read, "audit.read", &detail)
            .await?;
        let rules = self.detect.clone();
        let now = self.env.now();
        self.audit_pass(actor, meta, "audit.read", detail, move |conn| {
            let lines = usage_lines(conn, &rules, now)?;
            let extra = json!({ "lines": lines.len() });
            Ok((lines, extra))
        })
        .await
    }
}

fn usage_lines(
    conn: &mut DbConn,
    rules_cfg: &DetectRules,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<UsageLine>, StoreError> {
    let cfg = &rules_cfg.cfg;
    let today = usage::day_key(now.naive_utc());
    let from = usage::day_key((now - chrono::Duration::days(cfg.baseline_days)).naive_utc());
    let people: Vec<(String, String)> = users::table
        .filter(users::role.eq_any(["sales", "manager"]))
        .filter(users::disabled.eq(false))
        .select((users::id, users::username))
        .order(users::username)
        .load(conn)?;
    let counts: Vec<(String, String, String, i64)> = usage_counts::table
        .filter(usage_counts::day.ge(&from))
        .filter(usage_counts::day.like("2%"))
        .select((
            usage_counts::user_id,
            usage_counts::metric,
            usage_counts::day,
            usage_counts::n,
        ))
        .load(conn)?;
    let mut out = Vec::new();
    for (uid, username) in people {
        for rule in rules(cfg).iter().filter(|r| r.baseline) {
            let mine = counts.iter().filter(|c| c.0 == uid && c.1 == rule.metric);
            let today_n = mine.clone().find(|c| c.2 == today).map_or(0, |c| c.3);
            let mut past: Vec<i64> = mine.filter(|c| c.2 < today).map(|c| c.3).collect();
            past.resize(
                usize::try_from(cfg.baseline_days)
                    .unwrap_or(14)
                    .max(past.len()),
                0,
            );
            let baseline = median(past);
            if today_n == 0 && baseline == 0.0 {
                continue;
            }
            out.push(UsageLine {
                user_id: uid.clone(),
                username: username.clone(),
                metric: rule.metric,
                today: today_n,
                baseline,
                floor: rule.floor,
                over: today_n > rule.floor && (today_n as f64) > cfg.k * baseline,
            });
        }
    }
    Ok(out)
}
