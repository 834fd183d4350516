-- Exports of deals and invoices: the CHECK on exports.object widens.
ALTER TABLE exports DROP CONSTRAINT exports_object_check;
ALTER TABLE exports ADD CONSTRAINT exports_object_check
    CHECK (object IN ('clients', 'deals', 'invoices'));
