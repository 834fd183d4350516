//! The door for reports: the same pipeline as every read (role check and
//! hardware-key rule, scope, domain call, audit event stored before the numbers
//! are returned). Each report read is one event naming its period; the
//! clients-at-risk report names the clients it returned, like a list page, and
//! is counted like one by the theft detection.

use serde_json::json;

use super::{Gate, GateError, Mode, touched};
use crate::access::policy::{Action, Object};
use crate::audit::RequestMeta;
use crate::crm::reports::{
    self, ActivityReport, AtRiskQuery, AtRiskReport, DefaultSpan, FunnelReport, Period,
    PeriodInput, RevenueReport, RiskSettings, RiskSettingsInput,
};
use crate::identity::Actor;

/// The audit event of the clients-at-risk report (counted as a list read).
pub const AT_RISK_EVENT: &str = "report.at_risk.list";

impl Gate {
    /// A period from the query string, measured against today's date; a bad one
    /// is refused before anything is read.
    fn report_period(&self, input: &PeriodInput, span: DefaultSpan) -> Result<Period, GateError> {
        Period::parse(input, self.env.now().date_naive(), span).map_err(GateError::from)
    }

    pub async fn report_funnel(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: PeriodInput,
    ) -> Result<FunnelReport, GateError> {
        let period = self.report_period(&input, DefaultSpan::Days90)?;
        let event = "report.funnel.read";
        let rule = (Object::Report, Action::Read);
        self.through(
            actor,
            meta,
            rule,
            event,
            "report",
            vec![],
            Mode::Read,
            move |conn, _, scope| {
                let r = reports::funnel(conn, scope, &period)?;
                let detail = json!({
                    "report": "funnel", "from": period.from, "to": period.to,
                    "deals": r.total.deals, "owners": r.by_owner.len(),
                });
                Ok(touched(r, vec![], detail))
            },
        )
        .await
    }

    pub async fn report_revenue(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: PeriodInput,
    ) -> Result<RevenueReport, GateError> {
        let period = self.report_period(&input, DefaultSpan::Months12)?;
        let event = "report.revenue.read";
        let rule = (Object::Report, Action::Read);
        self.through(
            actor,
            meta,
            rule,
            event,
            "report",
            vec![],
            Mode::Read,
            move |conn, ctx, scope| {
                let r = reports::revenue(conn, ctx, scope, &period)?;
                let detail = json!({
                    "report": "revenue", "from": period.from, "to": period.to,
                    "currencies": r.totals.len(),
                });
                Ok(touched(r, vec![], detail))
            },
        )
        .await
    }

    pub async fn report_activity(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: PeriodInput,
    ) -> Result<ActivityReport, GateError> {
        let period = self.report_period(&input, DefaultSpan::Days90)?;
        let event = "report.activity.read";
        let rule = (Object::Report, Action::Read);
        self.through(
            actor,
            meta,
            rule,
            event,
            "report",
            vec![],
            Mode::Read,
            move |conn, ctx, scope| {
                let r = reports::activity(conn, ctx, scope, &period)?;
                let ids = r.people.iter().map(|p| p.user.id.clone()).collect();
                let detail = json!({
                    "report": "activity", "from": period.from, "to": period.to,
                    "people": r.people.len(),
                });
                Ok(touched(r, ids, detail))
            },
        )
        .await
    }

    /// The flagged clients in the reader's scope. The event names every client
    /// returned (kind `client`), like a list page.
    pub async fn report_at_risk(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        query: AtRiskQuery,
    ) -> Result<AtRiskReport, GateError> {
        let limit = reports::parse_limit(&query).map_err(GateError::from)?;
        let rule = (Object::Report, Action::Read);
        self.through(
            actor,
            meta,
            rule,
            AT_RISK_EVENT,
            "client",
            vec![],
            Mode::Read,
            move |conn, ctx, scope| {
                let r = reports::at_risk(conn, ctx, scope, limit)?;
                let ids = r.clients.iter().map(|c| c.id.clone()).collect();
                let detail = json!({
                    "report": "at_risk", "count": r.clients.len(), "more": r.more, "limit": limit,
                });
                Ok(touched(r, ids, detail))
            },
        )
        .await
    }

    /// The clients-at-risk flags, for anyone who reads reports.
    pub async fn report_settings(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<RiskSettings, GateError> {
        let event = "report.settings.read";
        let rule = (Object::Report, Action::Read);
        self.through(
            actor,
            meta,
            rule,
            event,
            "report",
            vec![],
            Mode::Read,
            move |conn, _, _| Ok(touched(reports::risk_settings(conn)?, vec![], json!({}))),
        )
        .await
    }

    /// Changes the flags (owners); the event keeps the values before and after.
    pub async fn update_report_settings(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        input: RiskSettingsInput,
    ) -> Result<RiskSettings, GateError> {
        let event = "report.settings.update";
        let rule = (Object::ReportSettings, Action::Update);
        self.through(
            actor,
            meta,
            rule,
            event,
            "report",
            vec![],
            Mode::Write,
            move |conn, ctx, scope| {
                let (old, new) = reports::update_risk_settings(conn, ctx, scope, &input)?;
                let detail = json!({ "old": old, "new": new });
                Ok(touched(new, vec![], detail))
            },
        )
        .await
    }
}
