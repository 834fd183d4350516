DROP INDEX clients_search;
ALTER TABLE clients DROP COLUMN search_tsv;
ALTER TABLE clients ADD COLUMN search_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
CREATE INDEX clients_search ON clients USING GIN (search_tsv);
DROP FUNCTION holdfast_fold(text);
