//! The PostgreSQL database of one benchmark run: made for the run and dropped
//! afterwards, or, with `HOLDFAST_BENCH_PG_DATABASE=NAME`, a named database that
//! is kept between runs so that a million clients are generated once.

use anyhow::{Context, anyhow};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use holdfast::clock::Env;

/// A PostgreSQL database for a benchmark run.
pub struct FreshPg {
    admin_url: String,
    name: String,
    keep: bool,
    pub url: String,
}

impl FreshPg {
    /// A new database, dropped at the end of the run.
    #[allow(dead_code)]
    pub fn create(admin_url: &str, env: &Env) -> anyhow::Result<FreshPg> {
        FreshPg::open(admin_url, env, None)
    }

    /// The database named by `HOLDFAST_BENCH_PG_DATABASE` (created if missing, kept
    /// afterwards), or else a new one as [`FreshPg::create`].
    #[allow(dead_code)]
    pub fn kept_or_fresh(admin_url: &str, env: &Env) -> anyhow::Result<FreshPg> {
        let kept = std::env::var("HOLDFAST_BENCH_PG_DATABASE")
            .ok()
            .filter(|n| !n.is_empty());
        FreshPg::open(admin_url, env, kept)
    }

    fn open(admin_url: &str, env: &Env, kept: Option<String>) -> anyhow::Result<FreshPg> {
        let (name, keep) = match kept {
            Some(name) => {
                if !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(anyhow!(
                        "HOLDFAST_BENCH_PG_DATABASE must be lowercase letters, digits and _"
                    ));
                }
                (name, true)
            }
            None => (
                format!(
                    "holdfast_bench_{}",
                    hex::encode(env.random_bytes::<6>().map_err(|e| anyhow!("{e}"))?)
                ),
                false,
            ),
        };
        let mut admin = PgConnection::establish(admin_url)
            .with_context(|| "cannot connect to HOLDFAST_BENCH_DATABASE_URL")?;
        let exists = keep
            && diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
            )))
            .get_result::<bool>(&mut admin)?;
        if !exists {
            admin.batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            ))?;
        }
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(FreshPg {
            admin_url: admin_url.to_string(),
            name,
            keep,
            url: url.to_string(),
        })
    }
}

impl Drop for FreshPg {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        match PgConnection::establish(&self.admin_url).map(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        }) {
            Ok(Ok(())) => {}
            other => eprintln!(
                "could not drop the bench database {}: {}",
                self.name,
                match other {
                    Err(e) => e.to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) => String::new(),
                }
            ),
        }
    }
}
