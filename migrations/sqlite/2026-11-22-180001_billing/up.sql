-- Service delivery and billing: projects (with their tasks), invoices and credit
-- notes with their lines, payments, and the gapless number sequence.
-- Money is an exact integer of 1/10000 units (*_e4), like deals.

CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'on_hold', 'done', 'cancelled')),
    starts_on DATE,
    ends_on DATE,
    responsible_id TEXT REFERENCES users(id),
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX projects_client ON projects(client_id, created_at);
CREATE INDEX projects_created ON projects(created_at, id);

ALTER TABLE tasks ADD COLUMN project_id TEXT REFERENCES projects(id);
CREATE INDEX tasks_project ON tasks(project_id);

-- One counter for invoices and credit notes: a number is taken by incrementing
-- this row inside the transaction that issues the document, so concurrent
-- issuers queue on the row and a rolled-back issue gives its number back.
CREATE TABLE invoice_sequences (
    name TEXT PRIMARY KEY NOT NULL,
    last_number BIGINT NOT NULL
);
INSERT INTO invoice_sequences (name, last_number) VALUES ('invoice', 0);

-- state is what was done to the document (draft, sent, void); paid, partly
-- paid and overdue are derived from paid_e4, credited_e4, due_on and the clock.
-- line_count, subtotal/tax/total are the document as issued; paid_e4 and
-- credited_e4 follow payments and issued credit notes.
CREATE TABLE invoices (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id),
    kind TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    -- A credit note names the invoice it corrects.
    credits_id TEXT REFERENCES invoices(id),
    number BIGINT UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('draft', 'sent', 'void')),
    currency TEXT NOT NULL,
    issued_at TIMESTAMP,
    due_on DATE,
    notes TEXT,
    line_count INTEGER NOT NULL DEFAULT 0,
    subtotal_e4 BIGINT NOT NULL DEFAULT 0,
    tax_e4 BIGINT NOT NULL DEFAULT 0,
    total_e4 BIGINT NOT NULL DEFAULT 0,
    paid_e4 BIGINT NOT NULL DEFAULT 0,
    credited_e4 BIGINT NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    voided_at TIMESTAMP,
    CHECK (state <> 'sent' OR number IS NOT NULL),
    CHECK ((kind = 'invoice') = (credits_id IS NULL))
);
CREATE INDEX invoices_client ON invoices(client_id, created_at);
CREATE INDEX invoices_created ON invoices(created_at, id);
CREATE INDEX invoices_credits ON invoices(credits_id);

CREATE TABLE invoice_lines (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices(id),
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity_e4 BIGINT NOT NULL,
    unit_price_e4 BIGINT NOT NULL,
    -- Percent, e.g. 18% = 180000.
    tax_rate_e4 BIGINT NOT NULL CHECK (tax_rate_e4 BETWEEN 0 AND 1000000),
    net_e4 BIGINT NOT NULL,
    tax_e4 BIGINT NOT NULL,
    total_e4 BIGINT NOT NULL,
    UNIQUE (invoice_id, position)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices(id),
    amount_e4 BIGINT NOT NULL CHECK (amount_e4 > 0),
    paid_on DATE NOT NULL,
    method TEXT,
    reference TEXT,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX payments_invoice ON payments(invoice_id, paid_on);

-- Once issued, the document is frozen: only the settlement columns (paid_e4,
-- credited_e4), the move to void and its time may change, and it is never
-- deleted. Its lines are frozen with it: none changed or removed, and none added
-- beyond the issued line_count (a restore re-inserts exactly those).
CREATE TRIGGER invoices_frozen BEFORE UPDATE ON invoices
WHEN OLD.state <> 'draft' AND (
    OLD.state = 'void'
    OR (NEW.state <> OLD.state AND NEW.state <> 'void')
    OR NEW.id IS NOT OLD.id OR NEW.client_id IS NOT OLD.client_id OR NEW.kind IS NOT OLD.kind
    OR NEW.credits_id IS NOT OLD.credits_id OR NEW.number IS NOT OLD.number
    OR NEW.currency IS NOT OLD.currency OR NEW.issued_at IS NOT OLD.issued_at
    OR NEW.due_on IS NOT OLD.due_on OR NEW.notes IS NOT OLD.notes
    OR NEW.line_count IS NOT OLD.line_count OR NEW.subtotal_e4 IS NOT OLD.subtotal_e4
    OR NEW.tax_e4 IS NOT OLD.tax_e4 OR NEW.total_e4 IS NOT OLD.total_e4
    OR NEW.created_by IS NOT OLD.created_by OR NEW.created_at IS NOT OLD.created_at)
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice is never edited (issue a credit note)');
END;
CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
WHEN OLD.state <> 'draft'
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice is never deleted');
END;
CREATE TRIGGER invoice_lines_no_insert BEFORE INSERT ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoices i WHERE i.id = NEW.invoice_id AND i.state <> 'draft'
             AND (SELECT COUNT(*) FROM invoice_lines l WHERE l.invoice_id = NEW.invoice_id) >= i.line_count)
BEGIN
    SELECT RAISE(ABORT, 'the lines of an issued invoice are never edited');
END;
CREATE TRIGGER invoice_lines_no_update BEFORE UPDATE ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoices i WHERE i.id = OLD.invoice_id AND i.state <> 'draft')
BEGIN
    SELECT RAISE(ABORT, 'the lines of an issued invoice are never edited');
END;
CREATE TRIGGER invoice_lines_no_delete BEFORE DELETE ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoices i WHERE i.id = OLD.invoice_id AND i.state <> 'draft')
BEGIN
    SELECT RAISE(ABORT, 'the lines of an issued invoice are never edited');
END;

-- A payment is a fact: never changed or removed.
CREATE TRIGGER payments_no_update BEFORE UPDATE ON payments BEGIN
    SELECT RAISE(ABORT, 'payments are never changed or removed');
END;
CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments BEGIN
    SELECT RAISE(ABORT, 'payments are never changed or removed');
END;
