-- +goose Up
-- Aggregates' snapshots, a cache of their states kept for every replica
-- (docs/eventstore.md, "Snapshots"). The store keeps each stream's latest
-- record as bytes, with the version it was taken at; what the record
-- holds is the command layer's, which checks it against the log before
-- it uses it.
CREATE TABLE snapshots (
    stream   text        NOT NULL,
    version  bigint      NOT NULL,
    record   bytea       NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT snapshots_pkey PRIMARY KEY (stream),
    CONSTRAINT snapshots_version_check CHECK (version > 0)
);

-- +goose Down
DROP TABLE snapshots;
