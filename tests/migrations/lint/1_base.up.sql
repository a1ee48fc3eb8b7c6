CREATE TABLE accounts (id bigint PRIMARY KEY, name text, kind text, owner_id bigint);
CREATE TABLE owners (id bigint PRIMARY KEY);
CREATE TABLE legacy (id bigint);
