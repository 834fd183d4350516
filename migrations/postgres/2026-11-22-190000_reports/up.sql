-- Reports: the owner's flags for the clients-at-risk report, and the indexes the
-- report queries read by (periods of issued invoices, payments, activity).

-- One row (id = 'default'); absent until an owner first saves, and the code's
-- defaults apply meanwhile.
CREATE TABLE report_settings (
    id TEXT PRIMARY KEY NOT NULL,
    complaints_on BOOLEAN NOT NULL,
    complaints_min INTEGER NOT NULL,
    complaints_days INTEGER NOT NULL,
    complaint_outcome TEXT NOT NULL,
    no_contact_on BOOLEAN NOT NULL,
    no_contact_days INTEGER NOT NULL,
    overdue_on BOOLEAN NOT NULL,
    overdue_days INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT
);

CREATE INDEX invoices_issued ON invoices(issued_at);
CREATE INDEX invoices_due ON invoices(due_on);
CREATE INDEX payments_paid_on ON payments(paid_on);
CREATE INDEX timeline_author ON timeline_entries(author_id, occurred_at);
CREATE INDEX tasks_done ON tasks(done_at);
