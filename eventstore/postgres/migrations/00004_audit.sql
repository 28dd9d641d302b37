-- +goose Up
-- Tamper evidence (docs/audit.md). Every tenant's events, in log order, are
-- the leaves of a Merkle tree (RFC 6962); the ledger signs checkpoints of
-- each tree. An event whose metadata names no tenant is in no tree.

-- The leaves: leaf_index is the event's place in its tenant's tree, hash
-- its leaf hash as appended (the witness `ledger audit verify` names a
-- changed, removed, inserted or reordered event by), partner_id the
-- partner of the event's actor (a partner may see the proofs of its own
-- partner's actions only), null for none.
CREATE TABLE audit_leaves (
    tenant_id  text   NOT NULL,
    leaf_index bigint NOT NULL,
    position   bigint NOT NULL,
    event_id   uuid   NOT NULL,
    hash       bytea  NOT NULL,
    partner_id text,
    CONSTRAINT audit_leaves_pkey PRIMARY KEY (tenant_id, leaf_index),
    CONSTRAINT audit_leaves_event_id_key UNIQUE (event_id)
);

-- The tree's inner nodes: the hash of the perfect subtree of 2^level
-- leaves starting at leaf node_index << level (level >= 1; level 0 is
-- audit_leaves). Proofs are read from here.
CREATE TABLE audit_nodes (
    tenant_id  text     NOT NULL,
    level      smallint NOT NULL,
    node_index bigint   NOT NULL,
    hash       bytea    NOT NULL,
    CONSTRAINT audit_nodes_pkey PRIMARY KEY (tenant_id, level, node_index),
    CONSTRAINT audit_nodes_level_check CHECK (level > 0)
);

-- A tenant's tree as appended so far: its size and its compact range (the
-- roots of its perfect subtrees, left to right), to append the next leaf.
CREATE TABLE audit_trees (
    tenant_id     text    NOT NULL,
    tree_size     bigint  NOT NULL,
    compact_range bytea[] NOT NULL,
    CONSTRAINT audit_trees_pkey PRIMARY KEY (tenant_id)
);

-- How far in the log the trees are appended: every event at or below
-- position is a leaf (or names no tenant). One row, always.
CREATE TABLE audit_cursor (
    singleton boolean NOT NULL DEFAULT true,
    position  bigint  NOT NULL,
    CONSTRAINT audit_cursor_pkey PRIMARY KEY (singleton),
    CONSTRAINT audit_cursor_singleton_check CHECK (singleton)
);
INSERT INTO audit_cursor (position) VALUES (0);

-- The signed checkpoints: signed_note is the transparency-log checkpoint
-- (origin "ledger/<tenant id>", tree size, base64 root hash) signed with
-- the ledger's ed25519 key as a note.
CREATE TABLE audit_checkpoints (
    tenant_id   text        NOT NULL,
    tree_size   bigint      NOT NULL,
    root_hash   bytea       NOT NULL,
    signed_note text        NOT NULL,
    signed_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tenant_id, tree_size)
);

-- Events are forever: the table refuses UPDATE, DELETE and TRUNCATE.
-- Defence in depth only (an owner can drop the trigger); the signed
-- checkpoints are what shows a change. An operator who must rewrite the
-- log (a test, a repair) runs
--   ALTER TABLE events DISABLE TRIGGER events_append_only;
-- and ENABLE afterwards (docs/audit.md).
-- +goose StatementBegin
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation', HINT = 'see docs/audit.md';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- +goose Down
DROP TRIGGER events_append_only_truncate ON events;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION events_refuse_change();
DROP TABLE audit_checkpoints;
DROP TABLE audit_cursor;
DROP TABLE audit_trees;
DROP TABLE audit_nodes;
DROP TABLE audit_leaves;
