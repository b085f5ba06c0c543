-- One recover at a time per endpoint, across every server process: a recover takes
-- the lease (recover_lease, a random token) until recover_until with a conditional
-- UPDATE and clears it when done. A server that dies mid-recover leaves a lease that
-- simply expires.
ALTER TABLE endpoints ADD COLUMN recover_lease text NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN recover_until timestamptz;
