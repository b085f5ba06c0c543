-- Micro-batching at ingest (docs/BATCHING.md). An intake inserts a batch's events
-- and one event_batches row in one transaction, then starts the batch's workflow.
-- The workflow's first step claims the batch by deleting its row; an intake whose
-- start failed deletes the row and the events only if nobody claimed it. A row
-- left behind (the intake died between insert and start) is what the worker's
-- sweep starts again: the outbox, with Temporal as the record of what started.
CREATE TABLE event_batches (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id),
    event_ids    text NOT NULL,
    created_at   datetime NOT NULL
);

-- The batch an event was accepted in (empty: accepted alone, by EventWorkflow).
ALTER TABLE events ADD COLUMN batch_id text NOT NULL DEFAULT '';
