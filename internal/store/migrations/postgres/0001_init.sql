CREATE TABLE workspaces (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);

INSERT INTO workspaces (id, name, created_at) VALUES ('ws_default', 'Default', now());

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id),
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,
    hash         text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);

CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

CREATE TABLE endpoints (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    event_types     text NOT NULL,
    filter          text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL,
    disabled_reason text NOT NULL DEFAULT '',
    secrets         text NOT NULL,
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX endpoints_workspace ON endpoints (workspace_id, id);

CREATE TABLE events (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    type            text NOT NULL,
    external_id     text NOT NULL DEFAULT '',
    idempotency_key text NOT NULL DEFAULT '',
    dedup_key       text NOT NULL,
    source_id       text NOT NULL DEFAULT '',
    data            jsonb NOT NULL,
    headers         text NOT NULL DEFAULT '{}',
    depth           integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    UNIQUE (workspace_id, dedup_key)
);

CREATE INDEX events_workspace ON events (workspace_id, id);

CREATE TABLE deliveries (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    event_id        text NOT NULL REFERENCES events (id),
    event_type      text NOT NULL,
    endpoint_id     text NOT NULL,
    message_id      text NOT NULL,
    status          text NOT NULL,
    attempt_count   integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (event_id, endpoint_id)
);

CREATE INDEX deliveries_workspace ON deliveries (workspace_id, id);
CREATE INDEX deliveries_endpoint ON deliveries (workspace_id, endpoint_id, status, id);

CREATE TABLE attempts (
    id               text PRIMARY KEY,
    delivery_id      text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           integer NOT NULL,
    at               timestamptz NOT NULL,
    duration_ms      bigint NOT NULL,
    status_code      integer NOT NULL DEFAULT 0,
    response_excerpt text NOT NULL DEFAULT '',
    error            text NOT NULL DEFAULT '',
    outcome          text NOT NULL,
    UNIQUE (delivery_id, number)
);
