//! Group commit. Requests append their events in batches: whoever finds no batch
//! being written becomes the leader and writes everything queued so far in one
//! transaction on the log's own connection; whoever arrives while a batch is
//! being written queues and waits, and the next leader takes them all. One
//! commit serves many requests, and each request still returns only once its
//! own event is committed: fail-closed is kept, only the cost is shared.
//!
//! The leader is a request's own blocking thread, not a writer thread of the
//! log's: a read that records its event where it ran its query (`record_blocking`)
//! pays no hand-over to another thread and back, which on a busy machine cost
//! more than the batch itself.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::values::ValuePolicy;
use super::{Event, RequestMeta, chain, prepare};
use crate::clock::Env;
use crate::store::models::audit_events::NewAuditRow;
use crate::store::{DbConn, Store, StoreError, write_tx};

/// Events appended in one transaction at most.
const MAX_BATCH: usize = 512;

/// The handle requests use to append events; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    log: Arc<Log>,
    env: Env,
    values: ValuePolicy,
}

struct Log {
    store: Store,
    state: Mutex<State>,
    /// Signalled when a batch is done (results are in, and leadership is free).
    batch_done: Condvar,
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    queue: Vec<(u64, NewAuditRow)>,
    leading: bool,
    /// Kept between batches; dropped after a failure, so the next batch
    /// connects afresh.
    conn: Option<DbConn>,
    /// Outcomes of appended events, until their requests pick them up.
    done: HashMap<u64, Result<(), String>>,
}

impl AuditLog {
    pub fn start(store: Store, env: Env, values: ValuePolicy) -> Result<AuditLog, StoreError> {
        Ok(AuditLog {
            log: Arc::new(Log {
                store,
                state: Mutex::new(State::default()),
                batch_done: Condvar::new(),
            }),
            env,
            values,
        })
    }

    /// How old and new values of personal fields are written into events.
    pub fn values(&self) -> &ValuePolicy {
        &self.values
    }

    /// Appends one event and returns once it is committed.
    pub async fn record(&self, meta: &RequestMeta, event: &Event) -> Result<(), StoreError> {
        let row = prepare(&self.env, meta, event)?;
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.append(row))
            .await
            .map_err(|e| StoreError::Audit(format!("the audit append failed: {e}")))?
    }

    /// Appends one event from a blocking thread (one that may wait) and returns
    /// once it is committed.
    pub fn record_blocking(&self, meta: &RequestMeta, event: &Event) -> Result<(), StoreError> {
        let row = prepare(&self.env, meta, event)?;
        self.log.append(row)
    }
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock (see `Leading`), so a panic
        // elsewhere while it was held leaves nothing half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(&self, row: NewAuditRow) -> Result<(), StoreError> {
        let mut st = self.lock();
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.queue.push((ticket, row));
        loop {
            if let Some(result) = st.done.remove(&ticket) {
                return result.map_err(StoreError::Audit);
            }
            if st.leading {
                st = self.batch_done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.leading = true;
            let take = st.queue.len().min(MAX_BATCH);
            let (tickets, rows): (Vec<u64>, Vec<NewAuditRow>) = st.queue.drain(..take).unzip();
            let conn = st.conn.take();
            drop(st);
            let mut leading = Leading {
                log: self,
                tickets,
                outcome: None,
                conn: None,
            };
            leading.outcome = Some(self.write(conn, rows, &mut leading.conn));
            drop(leading);
            st = self.lock();
        }
    }

    fn write(
        &self,
        conn: Option<DbConn>,
        rows: Vec<NewAuditRow>,
        keep: &mut Option<DbConn>,
    ) -> Result<(), String> {
        let mut conn = match conn {
            Some(conn) => conn,
            None => self.store.dedicated().map_err(|e| e.to_string())?,
        };
        let events = rows.len();
        match write_tx(&mut conn, |c| chain::append(c, rows)) {
            Ok(_) => {
                *keep = Some(conn);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, events, "audit batch failed");
                Err(e.to_string())
            }
        }
    }
}

/// A batch being written. Dropping it (also by unwinding from a panic) hands
/// out the batch's outcome, gives the connection back and frees the lead, so
/// no request waits for a leader that is gone.
struct Leading<'a> {
    log: &'a Log,
    tickets: Vec<u64>,
    outcome: Option<Result<(), String>>,
    conn: Option<DbConn>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| Err("the audit batch was interrupted".into()));
        let mut st = self.log.lock();
        for t in self.tickets.drain(..) {
            st.done.insert(t, outcome.clone());
        }
        st.conn = self.conn.take();
        st.leading = false;
        drop(st);
        self.log.batch_done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Outcome, Who};
    use crate::store::schema::audit_events;
    use diesel::prelude::*;

    fn event(i: usize) -> Event {
        Event::new("client.read", Outcome::Ok)
            .by(Who {
                id: format!("user-{i}"),
                role: "owner".into(),
                session_ref: None,
            })
            .on("client", [format!("client-{i}")])
    }

    fn log_on_sqlite() -> (tempfile::TempDir, Store, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::open(&secrecy::SecretString::from(url), 0).unwrap();
        let log = AuditLog::start(store.clone(), Env::system(), ValuePolicy::Keep).unwrap();
        (dir, store, log)
    }

    fn reads(conn: &mut DbConn) -> i64 {
        audit_events::table
            .filter(audit_events::action.eq("client.read"))
            .count()
            .get_result(conn)
            .unwrap()
    }

    /// Many threads at once: every event is appended exactly once, in one valid
    /// chain, and nothing is left queued or waiting.
    #[test]
    fn concurrent_appends_form_one_chain() {
        let (_dir, store, log) = log_on_sqlite();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.record_blocking(&RequestMeta::default(), &event(t * 100 + i))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut conn = store.conn().unwrap();
        assert_eq!(reads(&mut conn), 400);
        let st = log.log.lock();
        assert!(st.queue.is_empty() && st.done.is_empty() && !st.leading);
        drop(st);
        let report = crate::audit::verify::verify(&mut conn, &[], &[]).unwrap();
        assert!(report.ok(), "{report:?}");
    }

    /// A batch that cannot be written fails every request in it, and the next
    /// batch connects afresh and succeeds.
    #[test]
    fn a_failed_batch_fails_its_requests_and_the_log_recovers() {
        let (_dir, store, log) = log_on_sqlite();
        log.record_blocking(&RequestMeta::default(), &event(1))
            .unwrap();
        let mut conn = store.conn().unwrap();
        diesel::sql_query("ALTER TABLE audit_head RENAME TO audit_head_gone")
            .execute(&mut conn)
            .unwrap();
        assert!(
            log.record_blocking(&RequestMeta::default(), &event(2))
                .is_err()
        );
        diesel::sql_query("ALTER TABLE audit_head_gone RENAME TO audit_head")
            .execute(&mut conn)
            .unwrap();
        log.record_blocking(&RequestMeta::default(), &event(3))
            .unwrap();
        assert_eq!(reads(&mut conn), 2);
    }
}
