-- +goose Up
-- Positions are position_base + transaction id * 65536 + the event's index
-- in its transaction. The base is 0 until the log moves to a server whose
-- transaction ids restart lower (a restore, pg_dump/pg_restore, a logical
-- copy): `ledger eventstore rebase` then raises it so that new positions
-- follow every old one (see docs/eventstore.md, "Positions across
-- restores"). One row, always.
CREATE TABLE event_log (
    singleton     boolean NOT NULL DEFAULT true,
    position_base bigint  NOT NULL,
    rebased_at    timestamptz,
    CONSTRAINT event_log_pkey PRIMARY KEY (singleton),
    CONSTRAINT event_log_singleton_check CHECK (singleton)
);
INSERT INTO event_log (position_base) VALUES (0);

-- +goose Down
DROP TABLE event_log;
