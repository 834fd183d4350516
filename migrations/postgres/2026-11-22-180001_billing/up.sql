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
    -- A credit note names the invoice it corrects (deferred: a restore writes rows in id order).
    credits_id TEXT REFERENCES invoices(id) DEFERRABLE INITIALLY DEFERRED,
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
CREATE FUNCTION invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'an issued invoice is never deleted';
    END IF;
    IF OLD.state = 'void'
       OR (NEW.state <> OLD.state AND NEW.state <> 'void')
       OR (NEW.id, NEW.client_id, NEW.kind, NEW.credits_id, NEW.number, NEW.currency,
           NEW.issued_at, NEW.due_on, NEW.notes, NEW.line_count, NEW.subtotal_e4,
           NEW.tax_e4, NEW.total_e4, NEW.created_by, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.client_id, OLD.kind, OLD.credits_id, OLD.number, OLD.currency,
           OLD.issued_at, OLD.due_on, OLD.notes, OLD.line_count, OLD.subtotal_e4,
           OLD.tax_e4, OLD.total_e4, OLD.created_by, OLD.created_at)
    THEN
        RAISE EXCEPTION 'an issued invoice is never edited (issue a credit note)';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoices_frozen BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW WHEN (OLD.state <> 'draft') EXECUTE FUNCTION invoice_frozen();

CREATE FUNCTION invoice_lines_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    inv invoices%ROWTYPE;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT * INTO inv FROM invoices WHERE id = NEW.invoice_id;
        IF inv.state <> 'draft' AND (SELECT COUNT(*) FROM invoice_lines
                                     WHERE invoice_id = NEW.invoice_id) >= inv.line_count THEN
            RAISE EXCEPTION 'the lines of an issued invoice are never edited';
        END IF;
        RETURN NEW;
    END IF;
    SELECT * INTO inv FROM invoices WHERE id = OLD.invoice_id;
    IF inv.state <> 'draft' THEN
        RAISE EXCEPTION 'the lines of an issued invoice are never edited';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_frozen();

-- A payment is a fact: never changed or removed.
CREATE FUNCTION payments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payments are never changed or removed';
END;
$$;
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_append_only();
