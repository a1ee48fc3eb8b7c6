-- phase: expand
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    total numeric(12, 2) NOT NULL DEFAULT 0
);
-- A new, empty table: a plain index and a validated foreign key are fine here.
CREATE INDEX orders_user_id_idx ON orders (user_id);
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE users ADD CONSTRAINT users_email_not_empty CHECK (email <> '') NOT VALID;
