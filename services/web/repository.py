"""The gateway's tables over asyncpg: users, sessions, and OpenID Connect sign-ins under way."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.web.domain import Session, User
from shared.db import Conn

UPSERT_USER = """
INSERT INTO web_user (user_id, display_name, role, subject, password_hash, active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, true, $6, $6)
ON CONFLICT (user_id) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
    subject = EXCLUDED.subject, password_hash = EXCLUDED.password_hash, active = true,
    updated_at = EXCLUDED.updated_at
RETURNING (xmax = 0) AS created
"""


async def upsert_user(
    conn: Conn, *, user_id: str, display_name: str, role: str, subject: str, password_hash: str, now: datetime
) -> bool:
    """True when the user is new (else name, role, subject and password are replaced)."""
    created: bool = await conn.fetchval(UPSERT_USER, user_id, display_name, role, subject, password_hash, now)
    return created


SELECT_USER = """
SELECT user_id, display_name, role, subject, password_hash, active FROM web_user WHERE user_id = $1
"""


def _user(row: asyncpg.Record) -> User:
    return User(
        user_id=row["user_id"],
        display_name=row["display_name"],
        role=row["role"],
        subject=row["subject"],
        password_hash=row["password_hash"],
        active=row["active"],
    )


async def get_user(conn: Conn, user_id: str) -> User | None:
    row = await conn.fetchrow(SELECT_USER, user_id)
    return _user(row) if row is not None else None


LIST_USERS = """
SELECT user_id, display_name, role, subject, password_hash, active FROM web_user ORDER BY role, user_id
"""


async def list_users(conn: Conn) -> list[User]:
    return [_user(r) for r in await conn.fetch(LIST_USERS)]


DEACTIVATE_USER = """
UPDATE web_user SET active = false, updated_at = $2 WHERE user_id = $1 AND active
"""
END_SESSIONS_OF_USER = """
DELETE FROM web_session WHERE user_id = $1 AND source = 'password'
"""


async def deactivate_user(conn: Conn, *, user_id: str, now: datetime) -> bool:
    """The user can no longer sign in, and their sessions end."""
    status = await conn.execute(DEACTIVATE_USER, user_id, now)
    await conn.execute(END_SESSIONS_OF_USER, user_id)
    return status.endswith(" 1")


INSERT_SESSION = """
INSERT INTO web_session (session_digest, source, user_id, role, subject, display_name, csrf_token, access_token,
                         refresh_token, access_expires_at, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""


async def insert_session(conn: Conn, session: Session) -> None:
    s = session
    await conn.execute(
        INSERT_SESSION,
        s.session_digest,
        s.source,
        s.user_id,
        s.role,
        s.subject,
        s.display_name,
        s.csrf_token,
        s.access_token,
        s.refresh_token,
        s.access_expires_at,
        s.created_at,
        s.expires_at,
    )


SELECT_SESSION = """
SELECT session_digest, source, user_id, role, subject, display_name, csrf_token, access_token, refresh_token,
       access_expires_at, created_at, expires_at
FROM web_session WHERE session_digest = $1 AND expires_at > $2
"""


async def get_session(conn: Conn, session_digest: bytes, *, now: datetime) -> Session | None:
    row = await conn.fetchrow(SELECT_SESSION, session_digest, now)
    if row is None:
        return None
    return Session(
        session_digest=bytes(row["session_digest"]),
        source=row["source"],
        user_id=row["user_id"],
        role=row["role"],
        subject=row["subject"],
        display_name=row["display_name"],
        csrf_token=row["csrf_token"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        access_token=row["access_token"],
        refresh_token=row["refresh_token"],
        access_expires_at=row["access_expires_at"],
    )


UPDATE_SESSION_TOKENS = """
UPDATE web_session SET access_token = $2, refresh_token = $3, access_expires_at = $4 WHERE session_digest = $1
"""


async def update_session_tokens(
    conn: Conn, *, session_digest: bytes, access_token: str, refresh_token: str | None, access_expires_at: datetime
) -> None:
    await conn.execute(UPDATE_SESSION_TOKENS, session_digest, access_token, refresh_token, access_expires_at)


DELETE_SESSION = """
DELETE FROM web_session WHERE session_digest = $1
"""


async def delete_session(conn: Conn, session_digest: bytes) -> None:
    await conn.execute(DELETE_SESSION, session_digest)


INSERT_SIGNIN_STATE = """
INSERT INTO web_signin_state (state, browser_digest, code_verifier, nonce, next_path, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""


async def insert_signin_state(
    conn: Conn, *, state: str, browser_digest: bytes, code_verifier: str, nonce: str, next_path: str, now: datetime
) -> None:
    await conn.execute(INSERT_SIGNIN_STATE, state, browser_digest, code_verifier, nonce, next_path, now)


TAKE_SIGNIN_STATE = """
DELETE FROM web_signin_state WHERE state = $1 AND created_at > $2
RETURNING browser_digest, code_verifier, nonce, next_path
"""


async def take_signin_state(conn: Conn, *, state: str, since: datetime) -> tuple[bytes, str, str, str] | None:
    """The sign-in started with `state` (once only: it is deleted), if it started after `since`."""
    row = await conn.fetchrow(TAKE_SIGNIN_STATE, state, since)
    if row is None:
        return None
    return bytes(row["browser_digest"]), row["code_verifier"], row["nonce"], row["next_path"]


PURGE_SESSIONS = """
DELETE FROM web_session WHERE expires_at <= $1
"""
PURGE_SIGNIN_STATES = """
DELETE FROM web_signin_state WHERE created_at <= $1
"""


async def purge_expired(conn: Conn, *, now: datetime, states_before: datetime) -> tuple[int, int]:
    sessions = await conn.execute(PURGE_SESSIONS, now)
    states = await conn.execute(PURGE_SIGNIN_STATES, states_before)
    return int(sessions.rsplit(" ", 1)[-1]), int(states.rsplit(" ", 1)[-1])


END_SUBJECT = """
WITH users AS (UPDATE web_user SET active = false, updated_at = $2 WHERE subject = $1 AND active)
DELETE FROM web_session WHERE subject = $1
"""


async def end_subject(conn: Conn, *, subject: str, now: datetime) -> int:
    """A revoked person: no password sign-in for them, and every session of theirs (password or provider) ends."""
    status = await conn.execute(END_SUBJECT, subject, now)
    return int(status.rsplit(" ", 1)[-1])
