ALTER TABLE automations ADD COLUMN signing_secret text NOT NULL DEFAULT '';
