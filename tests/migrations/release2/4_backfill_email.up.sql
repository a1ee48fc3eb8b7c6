-- phase: migrate
-- Re-run until it touches no row; :batch_size is the module's batch_size.
UPDATE users SET email = mail
WHERE id = ANY (ARRAY(SELECT id FROM users WHERE email IS NULL AND mail IS NOT NULL ORDER BY id LIMIT :batch_size));
