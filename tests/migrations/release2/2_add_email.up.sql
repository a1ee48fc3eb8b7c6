-- Release 2026.05.1 renames users.mail to users.email in three phases.
-- phase: expand
ALTER TABLE users ADD COLUMN email text;
