//! Group commit. Reads append their events through one writer thread that takes
//! whatever has queued while the previous batch committed and appends it in a
//! single transaction, so one commit (and one fsync) serves many requests. Each
//! request still waits until its own event is committed before it answers:
//! fail-closed is kept, only the cost is shared.

use tokio::sync::{mpsc, oneshot};

use super::values::ValuePolicy;
use super::{Event, RequestMeta, chain, prepare};
use crate::clock::Env;
use crate::store::models::audit_events::NewAuditRow;
use crate::store::{DbConn, Store, StoreError, write_tx};

/// Events appended in one transaction at most.
const MAX_BATCH: usize = 512;

struct Job {
    row: NewAuditRow,
    done: oneshot::Sender<Result<(), String>>,
}

/// The handle requests use to append events; cheap to clone. The writer thread
/// ends when the last handle is dropped.
#[derive(Clone)]
pub struct AuditLog {
    jobs: mpsc::Sender<Job>,
    env: Env,
    values: ValuePolicy,
}

impl AuditLog {
    pub fn start(store: Store, env: Env, values: ValuePolicy) -> Result<AuditLog, StoreError> {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(store, queue))
            .map_err(|e| StoreError::Audit(format!("cannot start the audit writer: {e}")))?;
        Ok(AuditLog { jobs, env, values })
    }

    /// How old and new values of personal fields are written into events.
    pub fn values(&self) -> &ValuePolicy {
        &self.values
    }

    /// Appends one event and returns once it is committed.
    pub async fn record(&self, meta: &RequestMeta, event: &Event) -> Result<(), StoreError> {
        let row = prepare(&self.env, meta, event)?;
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Job { row, done })
            .await
            .map_err(|_| StoreError::Audit("the audit writer has stopped".into()))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Audit(e)),
            Err(_) => Err(StoreError::Audit("the audit writer has stopped".into())),
        }
    }
}

fn write_loop(store: Store, mut queue: mpsc::Receiver<Job>) {
    // Kept between batches; dropped after a failure, so the next batch connects
    // afresh.
    let mut held: Option<DbConn> = None;
    while let Some(first) = queue.blocking_recv() {
        let mut rows = Vec::with_capacity(16);
        let mut waiting = Vec::with_capacity(16);
        rows.push(first.row);
        waiting.push(first.done);
        while rows.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    rows.push(job.row);
                    waiting.push(job.done);
                }
                Err(_) => break,
            }
        }
        let result = append(&store, &mut held, rows).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, events = waiting.len(), "audit batch failed");
        }
        for done in waiting {
            // A request that gave up waiting has nothing to be told.
            let _ = done.send(result.clone());
        }
    }
}

fn append(
    store: &Store,
    held: &mut Option<DbConn>,
    rows: Vec<NewAuditRow>,
) -> Result<(), StoreError> {
    let conn = match held {
        Some(conn) => conn,
        None => held.insert(store.dedicated()?),
    };
    let appended = write_tx(conn, |c| chain::append(c, rows)).map(|_| ());
    if appended.is_err() {
        *held = None;
    }
    appended
}
