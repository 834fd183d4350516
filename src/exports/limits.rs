//! Allowances (`policies/limits.toml`): per role, overridable per user.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

const BUILTIN: &str = include_str!("../../policies/limits.toml");

/// One person's allowance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    pub rows_per_export: i64,
    pub rows_per_day: i64,
    pub exports_per_hour: i64,
    pub reassign_per_hour: i64,
    pub reassign_per_day: i64,
    pub bulk_reassign_max: i64,
}

/// A per-user override: only the values it names.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    rows_per_export: Option<i64>,
    rows_per_day: Option<i64>,
    exports_per_hour: Option<i64>,
    reassign_per_hour: Option<i64>,
    reassign_per_day: Option<i64>,
    bulk_reassign_max: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    roles: HashMap<String, Allowance>,
    #[serde(default)]
    users: HashMap<String, Override>,
}

#[derive(Debug, Clone, Default)]
pub struct Limits {
    file: File,
}

#[derive(Debug, thiserror::Error)]
#[error("limits.toml: {0}")]
pub struct LimitsError(String);

/// One allowance a request goes beyond, for the approver and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Over {
    pub limit: &'static str,
    pub allowed: i64,
    /// What the request would bring the count to.
    pub requested: i64,
}

impl Limits {
    /// `dir/limits.toml` when the policy directory has one, else the built-in file.
    pub fn load(dir: Option<&Path>) -> Result<Limits, LimitsError> {
        let text = match dir.map(|d| d.join("limits.toml")) {
            Some(path) if path.exists() => std::fs::read_to_string(&path)
                .map_err(|e| LimitsError(format!("{}: {e}", path.display())))?,
            _ => BUILTIN.to_string(),
        };
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Limits, LimitsError> {
        let file: File = toml::from_str(text).map_err(|e| LimitsError(e.to_string()))?;
        for role in file.roles.keys() {
            if !["owner", "admin", "manager", "sales"].contains(&role.as_str()) {
                return Err(LimitsError(format!("unknown role `{role}`")));
            }
        }
        let negative = |a: &Allowance| {
            [
                a.rows_per_export,
                a.rows_per_day,
                a.exports_per_hour,
                a.reassign_per_hour,
                a.reassign_per_day,
                a.bulk_reassign_max,
            ]
            .iter()
            .any(|v| *v < 0)
        };
        if file.roles.values().any(negative) {
            return Err(LimitsError("allowances cannot be negative".into()));
        }
        Ok(Limits { file })
    }

    /// The allowance of `username` with `role`: the role's, with the user's overrides.
    pub fn for_user(&self, role: &str, username: &str) -> Allowance {
        let mut a = self.file.roles.get(role).copied().unwrap_or_default();
        if let Some(o) = self.file.users.get(&username.to_lowercase()) {
            let set = |v: &mut i64, o: Option<i64>| {
                if let Some(o) = o {
                    *v = o.max(0);
                }
            };
            set(&mut a.rows_per_export, o.rows_per_export);
            set(&mut a.rows_per_day, o.rows_per_day);
            set(&mut a.exports_per_hour, o.exports_per_hour);
            set(&mut a.reassign_per_hour, o.reassign_per_hour);
            set(&mut a.reassign_per_day, o.reassign_per_day);
            set(&mut a.bulk_reassign_max, o.bulk_reassign_max);
        }
        a
    }
}

/// What one person exported recently.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportUsage {
    /// Rows of exports that produced a file in the last 24 hours.
    pub rows_last_day: i64,
    /// Export requests in the last hour, whatever became of them.
    pub exports_last_hour: i64,
}

/// The allowances an export of `rows` rows goes beyond (empty: within them).
pub fn export_over(a: &Allowance, rows: i64, usage: ExportUsage) -> Vec<Over> {
    let mut over = Vec::new();
    if rows > a.rows_per_export {
        over.push(Over {
            limit: "rows_per_export",
            allowed: a.rows_per_export,
            requested: rows,
        });
    }
    if usage.rows_last_day + rows > a.rows_per_day {
        over.push(Over {
            limit: "rows_per_day",
            allowed: a.rows_per_day,
            requested: usage.rows_last_day + rows,
        });
    }
    if usage.exports_last_hour + 1 > a.exports_per_hour {
        over.push(Over {
            limit: "exports_per_hour",
            allowed: a.exports_per_hour,
            requested: usage.exports_last_hour + 1,
        });
    }
    over
}

/// What one person reassigned recently (clients moved).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReassignUsage {
    pub last_hour: i64,
    pub last_day: i64,
}

/// The reassignment allowances a move of `n` clients goes beyond.
pub fn reassign_over(a: &Allowance, n: i64, usage: ReassignUsage) -> Vec<Over> {
    let mut over = Vec::new();
    if n > a.bulk_reassign_max {
        over.push(Over {
            limit: "bulk_reassign_max",
            allowed: a.bulk_reassign_max,
            requested: n,
        });
    }
    if usage.last_hour + n > a.reassign_per_hour {
        over.push(Over {
            limit: "reassign_per_hour",
            allowed: a.reassign_per_hour,
            requested: usage.last_hour + n,
        });
    }
    if usage.last_day + n > a.reassign_per_day {
        over.push(Over {
            limit: "reassign_per_day",
            allowed: a.reassign_per_day,
            requested: usage.last_day + n,
        });
    }
    over
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_limits_are_tight_for_sales_and_wider_for_managers() {
        let l = Limits::parse(BUILTIN).unwrap();
        let sales = l.for_user("sales", "anyone");
        assert_eq!((sales.rows_per_export, sales.rows_per_day), (50, 200));
        let mgr = l.for_user("manager", "anyone");
        assert!(mgr.rows_per_export > sales.rows_per_export);
        assert_eq!(l.for_user("admin", "it"), Allowance::default());
    }

    #[test]
    fn user_overrides_replace_only_what_they_name() {
        let l = Limits::parse(
            "[roles.sales]\nrows_per_export = 50\nrows_per_day = 200\nexports_per_hour = 5\n\
             reassign_per_hour = 1\nreassign_per_day = 2\nbulk_reassign_max = 3\n\
             [users.nino]\nrows_per_export = 120\n",
        )
        .unwrap();
        let a = l.for_user("sales", "Nino");
        assert_eq!((a.rows_per_export, a.rows_per_day), (120, 200));
        assert_eq!(l.for_user("sales", "gio").rows_per_export, 50);
    }

    #[test]
    fn typos_and_unknown_roles_are_refused() {
        assert!(Limits::parse("[roles.sales]\nrows_per_exprt = 1\n").is_err());
        assert!(Limits::parse("[roles.king]\n").is_err());
    }

    #[test]
    fn each_allowance_is_checked() {
        let a = Limits::parse(BUILTIN).unwrap().for_user("sales", "x");
        assert!(export_over(&a, 50, ExportUsage::default()).is_empty());
        assert_eq!(
            export_over(&a, 51, ExportUsage::default())[0].limit,
            "rows_per_export"
        );
        let busy = ExportUsage {
            rows_last_day: 180,
            exports_last_hour: 5,
        };
        let over: Vec<_> = export_over(&a, 30, busy).iter().map(|o| o.limit).collect();
        assert_eq!(over, ["rows_per_day", "exports_per_hour"]);
    }

    #[test]
    fn reassignments_are_limited_per_request_hour_and_day() {
        let a = Limits::parse(BUILTIN).unwrap().for_user("manager", "x");
        assert!(reassign_over(&a, 50, ReassignUsage::default()).is_empty());
        assert_eq!(
            reassign_over(&a, 51, ReassignUsage::default())[0].limit,
            "bulk_reassign_max"
        );
        let busy = ReassignUsage {
            last_hour: 90,
            last_day: 295,
        };
        let over: Vec<_> = reassign_over(&a, 11, busy)
            .iter()
            .map(|o| o.limit)
            .collect();
        assert_eq!(over, ["reassign_per_hour", "reassign_per_day"]);
    }
}
