-- +goose Up
-- Idempotency keys, recorded in the same transaction as the events they
-- guard, with the result that was returned for them.
CREATE TABLE idempotency_keys (
    caller         text        NOT NULL,
    key            text        NOT NULL,
    fingerprint    text        NOT NULL,
    result         bytea       NOT NULL,
    stream_version bigint      NOT NULL,
    position       bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (caller, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
