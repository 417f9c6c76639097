-- Adapter API keys: only a digest of the secret is stored; `channels` scopes what the key may post.
CREATE TABLE api_key (
    api_key_id     text        PRIMARY KEY,
    name           text        NOT NULL,
    secret_sha256  bytea       NOT NULL,
    channels       text[]      NOT NULL,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz
);
CREATE INDEX api_key_name_idx ON api_key (name);
