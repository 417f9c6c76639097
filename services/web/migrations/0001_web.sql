-- The gateway's own data: the people who sign in with a password, sessions, and OpenID Connect sign-ins under
-- way. Nothing else: work, contacts and customers stay in the services.

CREATE TABLE web_user (
    user_id        text        PRIMARY KEY CHECK (user_id = lower(user_id) AND length(user_id) BETWEEN 1 AND 100),
    display_name   text        NOT NULL,
    role           text        NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin', 'ops')),
    subject        text        NOT NULL,
    password_hash  text        NOT NULL,
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- A session is found by the SHA-256 of its cookie; the cookie's value itself is never stored.
CREATE TABLE web_session (
    session_digest     bytea       PRIMARY KEY,
    source             text        NOT NULL CHECK (source IN ('password', 'oidc')),
    user_id            text        NOT NULL,
    role               text        NOT NULL,
    subject            text        NOT NULL,
    display_name       text        NOT NULL,
    csrf_token         text        NOT NULL,
    access_token       text,
    refresh_token      text,
    access_expires_at  timestamptz,
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL
);
CREATE INDEX web_session_expires_at ON web_session (expires_at);

-- An authorisation request sent to the provider: its state, bound to the browser that started it (the SHA-256
-- of a cookie only that browser holds), with the PKCE verifier and nonce to check the answer against.
CREATE TABLE web_signin_state (
    state           text        PRIMARY KEY,
    browser_digest  bytea       NOT NULL,
    code_verifier   text        NOT NULL,
    nonce           text        NOT NULL,
    next_path       text        NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX web_signin_state_created_at ON web_signin_state (created_at);
