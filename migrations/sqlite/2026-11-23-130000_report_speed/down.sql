DROP INDEX timeline_call_outcomes;
DROP INDEX clients_quiet;
ALTER TABLE clients DROP COLUMN last_contact_at;
DROP INDEX invoices_open;
DROP INDEX clients_deleted;
DROP INDEX deals_funnel;
ALTER TABLE deals DROP COLUMN reached_stage;
