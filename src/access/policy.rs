//! casbin, loaded from `policies/` (built in) or `access.policy_dir`.

use std::path::Path;

use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi, StringAdapter};

use super::AccessError;
use crate::identity::Role;

const BUILTIN_MODEL: &str = include_str!("../../policies/model.conf");
const BUILTIN_POLICY: &str = include_str!("../../policies/policy.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    Client,
    Timeline,
    Statuses,
    Users,
    /// The audit log (owner's views and exports of it).
    Audit,
    /// Exports and bulk reassignments beyond an allowance, waiting for an owner.
    Approvals,
    /// Alerts raised by the data-loss controls.
    Alerts,
    /// Decoy clients (and the export records, seeds and traces around them).
    Decoys,
    /// Deals; a deal is reached through its client's owner and team.
    Deal,
    /// The pipeline's list of stages.
    DealStages,
    /// Tasks; a task is reached through its assignee and the assignee's team.
    Task,
    /// Projects; reached through their client, like deals.
    Project,
    /// Invoices and credit notes; reached through their client.
    Invoice,
    /// Payments recorded against invoices; reached through the invoice's client.
    Payment,
    /// Reports (funnel, revenue, activity, clients at risk): a person's numbers
    /// are reached like their own records.
    Report,
    /// The clients-at-risk flags that owners configure.
    ReportSettings,
}

impl Object {
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Client => "client",
            Object::Timeline => "timeline",
            Object::Statuses => "statuses",
            Object::Users => "users",
            Object::Audit => "audit",
            Object::Approvals => "approvals",
            Object::Alerts => "alerts",
            Object::Decoys => "decoys",
            Object::Deal => "deal",
            Object::DealStages => "deal_stages",
            Object::Task => "task",
            Object::Project => "project",
            Object::Invoice => "invoice",
            Object::Payment => "payment",
            Object::Report => "report",
            Object::ReportSettings => "report_settings",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    List,
    Read,
    Create,
    Update,
    Delete,
    Restore,
    Write,
    Manage,
    Export,
    Approve,
    Reassign,
    /// Full phones and emails of a client shown masked in a list.
    Reveal,
    /// Departure mode: mark a user as leaving, hand their book on.
    Depart,
    /// CSV import of clients (creates and merges cards in one transaction).
    Import,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Restore => "restore",
            Action::Write => "write",
            Action::Manage => "manage",
            Action::Export => "export",
            Action::Approve => "approve",
            Action::Reassign => "reassign",
            Action::Reveal => "reveal",
            Action::Depart => "depart",
            Action::Import => "import",
        }
    }
}

/// How far a granted action reaches, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    Own,
    Team,
    All,
}

impl Reach {
    fn parse(s: &str) -> Option<Reach> {
        match s {
            "own" => Some(Reach::Own),
            "team" => Some(Reach::Team),
            "all" => Some(Reach::All),
            _ => None,
        }
    }
}

pub struct Policy {
    enforcer: Enforcer,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Policy")
    }
}

impl Policy {
    pub async fn load(dir: Option<&Path>) -> Result<Policy, AccessError> {
        let (model_text, policy_text) = match dir {
            Some(dir) => (
                std::fs::read_to_string(dir.join("model.conf")).map_err(|e| {
                    AccessError::Policy(format!("{}/model.conf: {e}", dir.display()))
                })?,
                std::fs::read_to_string(dir.join("policy.csv")).map_err(|e| {
                    AccessError::Policy(format!("{}/policy.csv: {e}", dir.display()))
                })?,
            ),
            None => (BUILTIN_MODEL.to_string(), BUILTIN_POLICY.to_string()),
        };
        let model = DefaultModel::from_str(&model_text)
            .await
            .map_err(|e| AccessError::Policy(e.to_string()))?;
        // casbin's string adapter does not skip comment lines.
        let rules: String = policy_text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let adapter = StringAdapter::new(rules);
        let enforcer = Enforcer::new(model, adapter)
            .await
            .map_err(|e| AccessError::Policy(e.to_string()))?;
        Ok(Policy { enforcer })
    }

    /// The widest scope the role has for `act` on `obj`; `None` when it has none.
    pub fn reach(&self, role: Role, obj: Object, act: Action) -> Option<Reach> {
        self.enforcer
            .get_filtered_policy(
                0,
                vec![
                    role.as_str().to_string(),
                    obj.as_str().into(),
                    act.as_str().into(),
                ],
            )
            .iter()
            .filter_map(|rule| rule.get(3).and_then(|s| Reach::parse(s)))
            .max()
    }

    /// The per-record decision: may this user do `act` on a record with this owner
    /// and team? Errors inside casbin count as a denial.
    #[allow(clippy::too_many_arguments)]
    pub fn permits(
        &self,
        role: Role,
        obj: Object,
        act: Action,
        uid: &str,
        uteam: Option<&str>,
        owner: Option<&str>,
        team: Option<&str>,
    ) -> bool {
        match self.enforcer.enforce((
            role.as_str(),
            obj.as_str(),
            act.as_str(),
            uid,
            uteam.unwrap_or(""),
            owner.unwrap_or(""),
            team.unwrap_or(""),
        )) {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::error!(error = %e, "casbin enforce failed; denying");
                false
            }
        }
    }
}
