//! A PostgreSQL database made for one benchmark run and dropped afterwards.

use anyhow::{Context, anyhow};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use holdfast::clock::Env;

/// A PostgreSQL database made for one run and dropped afterwards.
pub struct FreshPg {
    admin_url: String,
    name: String,
    pub url: String,
}

impl FreshPg {
    pub fn create(admin_url: &str, env: &Env) -> anyhow::Result<FreshPg> {
        let name = format!(
            "holdfast_bench_{}",
            hex::encode(env.random_bytes::<6>().map_err(|e| anyhow!("{e}"))?)
        );
        let mut admin = PgConnection::establish(admin_url)
            .with_context(|| "cannot connect to HOLDFAST_BENCH_DATABASE_URL")?;
        admin.batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
        ))?;
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(FreshPg {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for FreshPg {
    fn drop(&mut self) {
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
