-- phase: contract
-- Release 2026.06.1: no 2026.04 instance reads users.mail any more.
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users DROP COLUMN mail;
