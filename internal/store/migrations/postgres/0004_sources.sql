CREATE TABLE sources (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL REFERENCES workspaces (id),
    name           text NOT NULL,
    enabled        boolean NOT NULL,
    verification   text NOT NULL,
    secrets        text NOT NULL,
    event_type     text NOT NULL,
    event_id       text NOT NULL DEFAULT '',
    max_body_bytes bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE INDEX sources_workspace ON sources (workspace_id, id);
