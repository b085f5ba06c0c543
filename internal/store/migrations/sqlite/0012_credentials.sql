-- Credentials (issue 17): named secrets a workspace's automations use in step
-- params ({{ secret "name" }}, {"$secret": "name"}), resolved inside the
-- activity only. The value is sealed like every other secret (secretbox, AAD
-- credentials.value and the id) and never returned by the API.
CREATE TABLE credentials (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id),
    name         text NOT NULL,
    value        text NOT NULL,
    created_at   datetime NOT NULL,
    updated_at   datetime NOT NULL,
    UNIQUE (workspace_id, name)
);
