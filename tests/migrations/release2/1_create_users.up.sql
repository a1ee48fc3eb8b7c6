-- Release 2026.04.1: the users table as the old version knows it.
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    mail text
);
