DROP TABLE payments;
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE invoice_sequences;
DROP INDEX tasks_project;
ALTER TABLE tasks DROP COLUMN project_id;
DROP TABLE projects;
