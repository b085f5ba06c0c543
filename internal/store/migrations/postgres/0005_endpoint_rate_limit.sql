-- Per-endpoint delivery pacing: at most rate_limit_per_second deliveries a second
-- (0: no limit). next_send_at is the first free send slot, shared by every worker.
ALTER TABLE endpoints ADD COLUMN rate_limit_per_second integer NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN next_send_at timestamptz;
