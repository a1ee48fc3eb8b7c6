ALTER TABLE users ADD COLUMN mail text;
UPDATE users SET mail = email;
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
