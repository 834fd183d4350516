-- Back to client exports only: the records of other exports go, with their
-- files and seeds.
DELETE FROM export_seeds WHERE export_id IN (SELECT id FROM exports WHERE object <> 'clients');
DELETE FROM export_files WHERE export_id IN (SELECT id FROM exports WHERE object <> 'clients');
DELETE FROM exports WHERE object <> 'clients';
ALTER TABLE exports DROP CONSTRAINT exports_object_check;
ALTER TABLE exports ADD CONSTRAINT exports_object_check CHECK (object IN ('clients'));
