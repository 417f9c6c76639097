"""The threading windows in force: cached like the classification rules, replaced (validated, versioned,
audited) by an admin."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.intake.domain.contact import ThreadPolicy
from services.intake.domain.settings import ThreadSettings, parse_thread_settings
from services.intake.handlers.common import Tx
from services.intake.repository import settings
from shared.audit import record
from shared.db import Conn

SETTINGS_TTL_S = 2.0


class ThreadPolicyCache:
    """The windows in force as a `ThreadPolicy`, re-read when another process (or this one) stored a newer
    version; an edit applies everywhere within `SETTINGS_TTL_S`."""

    def __init__(self, *, retry_window: timedelta) -> None:
        self.retry_window = retry_window
        """How long a message named only by its sender and content is a retry (a process setting, no rule)."""
        self._settings: ThreadSettings | None = None
        self._policy: ThreadPolicy | None = None
        self._checked = 0.0

    async def settings(self, conn: Conn) -> ThreadSettings:
        if self._settings is None:
            self._settings = await settings.latest_thread_settings(conn)
            self._checked = time.monotonic()
        elif time.monotonic() - self._checked > SETTINGS_TTL_S:
            self._checked = time.monotonic()
            if await settings.latest_version(conn) != self._settings.version:
                self._settings = await settings.latest_thread_settings(conn)
                self._policy = None
        return self._settings

    async def get(self, conn: Conn) -> ThreadPolicy:
        current = await self.settings(conn)
        if self._policy is None:
            self._policy = current.policy(retry_window=self.retry_window)
        return self._policy

    def invalidate(self) -> None:
        self._settings = None
        self._policy = None


class VersionMismatch(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the settings are at version {current}")
        self.current = current


async def replace_thread_settings(
    tx: Tx, document: dict[str, Any], *, actor: str, expected_version: int | None
) -> ThreadSettings:
    """Raises `InvalidSettings` (nothing stored) for a document that does not validate, `VersionMismatch` when
    `expected_version` is not the version in force."""
    after = parse_thread_settings(document, version=0)
    await settings.lock_thread_settings(tx.conn)
    before = await settings.latest_thread_settings(tx.conn)
    if expected_version is not None and before.version != expected_version:
        raise VersionMismatch(before.version)
    version = await settings.insert_thread_settings(tx.conn, document=after.document(), by=actor, now=tx.now)
    await record(
        tx.conn,
        actor=actor,
        action="intake.settings.replace",
        target="intake:settings",
        detail={
            "from_version": before.version,
            "to_version": version,
            "before": before.document(),
            "after": after.document(),
        },
        at=tx.now,
    )
    return replace(after, version=version)
