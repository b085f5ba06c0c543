-- Event chains: every event caused by another (emitted by a step, or rung back in
-- through /hooks by hookflow's own delivery) carries the root event that started
-- the chain, and each root has a budget of events it may cause in all.
ALTER TABLE events ADD COLUMN root_event_id text NOT NULL DEFAULT '';
CREATE TABLE chain_budgets (
    root_event_id text PRIMARY KEY,
    used integer NOT NULL,
    created_at datetime NOT NULL
);
