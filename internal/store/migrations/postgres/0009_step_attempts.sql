-- How many attempts of a step's action have been made: automation steps count
-- their attempts on record, as deliveries do (attempt_count), not Temporal's.
ALTER TABLE run_steps ADD COLUMN attempts integer NOT NULL DEFAULT 0;
