ALTER TABLE accounts ADD CONSTRAINT accounts_name_check CHECK (name <> '');
