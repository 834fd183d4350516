//! Storage: one diesel code path over SQLite (default) and PostgreSQL.

pub mod lease;
pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::{ExposeSecret, SecretString};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Pg(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL (expected postgres://… or sqlite://…)")]
    BadUrl,
    #[error("audit log: {0}")]
    Audit(String),
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Where a connection goes, decided from the URL scheme and never guessed.
#[derive(Clone)]
pub enum Target {
    Postgres(SecretString),
    Sqlite(String),
}

impl Target {
    pub fn parse(url: &SecretString) -> Result<Target, StoreError> {
        let raw = url.expose_secret();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Target::Postgres(url.clone()))
        } else if let Some(path) = raw.strip_prefix("sqlite://") {
            Ok(Target::Sqlite(path.to_string()))
        } else if raw.contains("://") || raw.is_empty() {
            Err(StoreError::BadUrl)
        } else {
            Ok(Target::Sqlite(raw.to_string()))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn establish(&self) -> Result<DbConn, StoreError> {
        match self {
            Target::Postgres(url) => PgConnection::establish(url.expose_secret())
                .map(DbConn::Pg)
                .map_err(|e| StoreError::Connect(e.to_string())),
            Target::Sqlite(path) => {
                if let Some(parent) = std::path::Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Connect(e.to_string()))?;
                }
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| StoreError::Connect(e.to_string()))?;
                // Every pooled connection: WAL for concurrent readers, enforced foreign
                // keys, and waiting for a lock instead of failing at once.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

pub struct Manager(Target);

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConn, StoreError> {
        self.0.establish()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        conn.batch_execute("SELECT 1").map_err(StoreError::from)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The database handle every layer above receives.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    target: Target,
}

impl Store {
    /// Opens a pool and applies pending migrations.
    pub fn open(url: &SecretString, pool_size: u32) -> Result<Store, StoreError> {
        let target = Target::parse(url)?;
        let backend = target.backend();
        let size = match (pool_size, backend) {
            (0, Backend::Sqlite) => 8,
            (0, Backend::Postgres) => 16,
            (n, _) => n,
        };
        let mut first = target.establish()?;
        run_migrations(&mut first)?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(Manager(target.clone()))?;
        Ok(Store {
            pool,
            backend,
            target,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// A connection of its own, outside the pool, for a thread that keeps one
    /// (a pooled checkout costs a validity query each time).
    pub fn dedicated(&self) -> Result<DbConn, StoreError> {
        self.target.establish()
    }

    /// Runs blocking database work off the async executor.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        self.run_then(f, Ok).await
    }

    /// `run`, then `then` on the same blocking thread after the connection is
    /// back in the pool: for work that may wait (the audit append) without
    /// holding a pooled connection, and without a hand-over to another thread.
    pub async fn run_then<A, T, E, F, G>(&self, f: F, then: G) -> Result<T, E>
    where
        A: Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<A, E> + Send + 'static,
        G: FnOnce(A) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        match tokio::task::spawn_blocking(move || {
            let done = {
                let mut conn = pool.get().map_err(StoreError::from)?;
                f(&mut conn)?
            };
            then(done)
        })
        .await
        {
            Ok(result) => result,
            Err(join) => Err(E::from(StoreError::Connect(format!(
                "database task failed: {join}"
            )))),
        }
    }

    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn()?.batch_execute("SELECT 1")?;
        Ok(())
    }
}

pub fn run_migrations(conn: &mut DbConn) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Reverts every migration (used by the up → down → up schema check).
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<(), StoreError> {
    let result = match conn {
        DbConn::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS).map(|_| ()),
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| StoreError::Migration(e.to_string()))
}

/// A write transaction. On SQLite it takes the write lock at once: a transaction
/// that reads first and upgrades later can fail with SQLITE_BUSY_SNAPSHOT under
/// concurrent writers, while waiting for the lock up front honours busy_timeout.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    conn.transaction(|c| {
        if c.backend() == Backend::Sqlite {
            c.batch_execute("UPDATE throttle SET hits = hits WHERE 0")?;
        }
        f(c)
    })
}
