-- phase: contract
ALTER TABLE accounts DROP COLUMN note;
DROP TABLE owners CASCADE;
