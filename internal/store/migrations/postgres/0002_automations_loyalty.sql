CREATE TABLE automations (
    id                 text PRIMARY KEY,
    workspace_id       text NOT NULL REFERENCES workspaces (id),
    name               text NOT NULL,
    enabled            boolean NOT NULL,
    trigger_event_type text NOT NULL,
    trigger_source_id  text NOT NULL DEFAULT '',
    trigger_json       text NOT NULL,
    steps_json         text NOT NULL,
    version            integer NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

CREATE INDEX automations_workspace ON automations (workspace_id, id);
CREATE INDEX automations_trigger ON automations (workspace_id, trigger_event_type, enabled);

CREATE TABLE automation_versions (
    automation_id text NOT NULL,
    version       integer NOT NULL,
    definition    text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (automation_id, version)
);

CREATE TABLE automation_runs (
    id                 text PRIMARY KEY,
    workspace_id       text NOT NULL REFERENCES workspaces (id),
    automation_id      text NOT NULL,
    automation_version integer NOT NULL,
    event_id           text NOT NULL,
    workflow_id        text NOT NULL,
    status             text NOT NULL,
    error              text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    UNIQUE (automation_id, event_id)
);

CREATE INDEX automation_runs_automation ON automation_runs (workspace_id, automation_id, id);
CREATE INDEX automation_runs_event ON automation_runs (workspace_id, event_id);

CREATE TABLE run_steps (
    run_id      text NOT NULL REFERENCES automation_runs (id) ON DELETE CASCADE,
    idx         integer NOT NULL,
    step_id     text NOT NULL,
    action      text NOT NULL,
    status      text NOT NULL,
    output      text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, idx)
);

CREATE TABLE loyalty_tiers (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    name         text NOT NULL,
    min_points   bigint NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE loyalty_members (
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    customer_id     text NOT NULL,
    name            text NOT NULL DEFAULT '',
    balance         bigint NOT NULL DEFAULT 0,
    lifetime_points bigint NOT NULL DEFAULT 0,
    tier            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, customer_id)
);

CREATE TABLE loyalty_ledger (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id),
    customer_id     text NOT NULL,
    delta           bigint NOT NULL,
    reason          text NOT NULL DEFAULT '',
    idempotency_key text NOT NULL,
    balance_after   bigint NOT NULL,
    tier_before     text NOT NULL DEFAULT '',
    tier_after      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    UNIQUE (workspace_id, idempotency_key)
);

CREATE INDEX loyalty_ledger_member ON loyalty_ledger (workspace_id, customer_id, id);
