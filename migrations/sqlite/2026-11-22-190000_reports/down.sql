DROP INDEX tasks_done;
DROP INDEX timeline_author;
DROP INDEX payments_paid_on;
DROP INDEX invoices_due;
DROP INDEX invoices_issued;
DROP TABLE report_settings;
