-- The table is known to be tiny; the reviewer accepted the short lock.
-- allow: index-not-concurrently
CREATE INDEX accounts_kind_idx ON accounts (kind);
COMMENT ON TABLE accounts IS 'DROP TABLE accounts; is only text';
