-- transaction: none
ALTER TABLE accounts ADD COLUMN tier text DEFAULT 'free' NOT NULL;
ALTER TABLE accounts ADD COLUMN note text;
ALTER TABLE accounts ADD CONSTRAINT accounts_owner_fk2 FOREIGN KEY (owner_id) REFERENCES owners (id) NOT VALID;
ALTER TABLE accounts VALIDATE CONSTRAINT accounts_owner_fk2;
ALTER TABLE accounts ALTER COLUMN note DROP NOT NULL;
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_owner_fk2;
CREATE INDEX CONCURRENTLY accounts_tier_idx ON accounts (tier);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- DROP TABLE inside a body is not a statement of its own
  NEW.note := 'x;y'; RETURN NEW;
END $$;
