CREATE TABLE sources (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL REFERENCES workspaces (id),
    name           text NOT NULL,
    enabled        integer NOT NULL,
    verification   text NOT NULL,
    secrets        text NOT NULL,
    event_type     text NOT NULL,
    event_id       text NOT NULL DEFAULT '',
    max_body_bytes integer NOT NULL DEFAULT 0,
    created_at     datetime NOT NULL,
    updated_at     datetime NOT NULL
);

CREATE INDEX sources_workspace ON sources (workspace_id, id);
