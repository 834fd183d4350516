-- The furthest open stage each deal's history reached (by the stages' current
-- order), kept on the deal: the funnel then reads one row per deal of the
-- period, from one index, instead of joining every deal with its history.
-- Kept up to date by crm::deals when a deal moves, and recomputed for every
-- deal when an owner reorders the stages or changes a stage's kind.
ALTER TABLE deals ADD COLUMN reached_stage TEXT;

UPDATE deals SET reached_stage = (
    SELECT h.to_stage FROM deal_stage_changes h
    INNER JOIN deal_stages s ON s.code = h.to_stage
    WHERE h.deal_id = deals.id AND s.kind = 'open'
    ORDER BY s.position DESC, s.code
    LIMIT 1
);

-- Covers the funnel's query: the period's deals with everything it groups by.
CREATE INDEX deals_funnel ON deals(created_at, owner_id, stage, reached_stage, currency, amount_e4, client_id);

-- The few deleted clients, so a report over everything can leave their records
-- out with one small lookup instead of visiting every record's client.
CREATE INDEX clients_deleted ON clients(deleted_at) WHERE deleted_at IS NOT NULL;

-- Issued invoices with something left to pay: the revenue report's "unpaid and
-- overdue" has no period, and without this walks every invoice in scope.
CREATE INDEX invoices_open ON invoices(client_id, due_on)
    WHERE state = 'sent' AND kind = 'invoice' AND total_e4 + credited_e4 - paid_e4 > 0;

-- The time of each client's last call, e-mail or meeting, kept on the client by
-- crm::timeline: "no contact for N days" is then one walk of an index from the
-- quietest client on, instead of a look through every client's timeline.
ALTER TABLE clients ADD COLUMN last_contact_at TIMESTAMP;

UPDATE clients SET last_contact_at = (
    SELECT MAX(t.occurred_at) FROM timeline_entries t
    WHERE t.client_id = clients.id AND t.kind IN ('call', 'email', 'meeting')
);

CREATE INDEX clients_quiet ON clients((COALESCE(last_contact_at, created_at)), id);

-- Complaints (calls by their outcome) in a recent window, for the same report.
CREATE INDEX timeline_call_outcomes ON timeline_entries((lower(call_outcome)), occurred_at)
    WHERE kind = 'call';
