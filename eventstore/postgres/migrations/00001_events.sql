-- +goose Up
-- The event log. A position is (transaction id << 16) + the event's index
-- within its transaction, so positions order events by transaction id; a
-- reader that stays below the oldest running transaction id never skips an
-- event (see docs/eventstore.md).
CREATE TABLE events (
    position       bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    stream         text        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL,
    data           json        NOT NULL,
    metadata       json        NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_pkey PRIMARY KEY (position),
    CONSTRAINT events_stream_version_key UNIQUE (stream, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_version_check CHECK (version > 0),
    CONSTRAINT events_schema_version_check CHECK (schema_version > 0)
);

-- +goose Down
DROP TABLE events;
