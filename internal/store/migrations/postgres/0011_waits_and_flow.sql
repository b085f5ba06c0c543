-- Automations that wait, react and pace themselves (issue 16, docs/AUTOMATIONS.md).

-- An automation's cancel_on and flow control (concurrency, throttle, rate_limit,
-- debounce), as JSON; the trigger's count is in trigger_json.
ALTER TABLE automations ADD COLUMN flow_json text NOT NULL DEFAULT '';

-- Why a run was skipped or cancelled, what a waiting run waits for, its key and
-- the count a count trigger fired at.
ALTER TABLE automation_runs ADD COLUMN reason text NOT NULL DEFAULT '';
ALTER TABLE automation_runs ADD COLUMN waiting_for text NOT NULL DEFAULT '';
ALTER TABLE automation_runs ADD COLUMN flow_key text NOT NULL DEFAULT '';
ALTER TABLE automation_runs ADD COLUMN trigger_count integer NOT NULL DEFAULT 0;

-- What a waiting step waits for and until when.
ALTER TABLE run_steps ADD COLUMN waiting_for text NOT NULL DEFAULT '';
ALTER TABLE run_steps ADD COLUMN until_at timestamptz;

-- The later events runs wait for: a wait_for_event step (kind 'event') or a
-- cancel_on entry (kind 'cancel'). An incoming event of type T finds the waits
-- for it by (workspace, T, path, its value at path), whatever the number of
-- runs waiting; waits with a CEL condition instead of a path have path '' and
-- are evaluated one by one (capped per workspace and type). matched_event_id is
-- the event that took the wait (empty while open): the one decision, made in
-- the database, between events racing for a wait and its timeout.
CREATE TABLE run_waits (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL REFERENCES workspaces (id),
    run_id           text NOT NULL,
    workflow_id      text NOT NULL,
    kind             text NOT NULL,
    step_index       integer NOT NULL DEFAULT 0,
    event_type       text NOT NULL,
    match_path       text NOT NULL DEFAULT '',
    match_value      text NOT NULL DEFAULT '',
    cond             text NOT NULL DEFAULT '',
    scope            text NOT NULL DEFAULT '',
    began_at         timestamptz NOT NULL,
    expires_at       timestamptz,
    matched_event_id text NOT NULL DEFAULT '',
    UNIQUE (run_id, kind, step_index)
);
CREATE INDEX run_waits_lookup ON run_waits (workspace_id, event_type, match_path, match_value);
CREATE INDEX run_waits_run ON run_waits (run_id);

-- The match paths waits for an event type have used in a workspace ('' for
-- conditions): what an incoming event reads first, a handful of rows however
-- many runs wait (rows are added as waits are, never needed to be removed: a
-- path no wait uses any more costs one lookup that finds nothing).
CREATE TABLE wait_paths (
    workspace_id text NOT NULL,
    event_type   text NOT NULL,
    match_path   text NOT NULL,
    PRIMARY KEY (workspace_id, event_type, match_path)
);

-- Rate limits of automations: a token bucket per automation and key.
CREATE TABLE rate_buckets (
    automation_id text NOT NULL,
    bucket_key    text NOT NULL,
    tokens        double precision NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (automation_id, bucket_key)
);
