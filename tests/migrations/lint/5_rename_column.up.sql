ALTER TABLE accounts RENAME COLUMN name TO display_name;
