"""Feedback's settings in force, cached like intake's classification rules; replaced (validated, versioned,
audited) by an admin."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from services.feedback import repository as repo
from services.feedback.domain.settings import Settings, parse_settings
from shared import audit
from shared.db import Conn
from shared.tx import Actor, Tx

SETTINGS_TTL_S = 2.0


class SettingsCache:
    """The settings in force, re-read when another process (or this one) stored a newer version."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._checked = 0.0

    async def get(self, conn: Conn) -> Settings:
        if self._settings is None:
            self._settings = await repo.latest_settings(conn)
            self._checked = time.monotonic()
        elif time.monotonic() - self._checked > SETTINGS_TTL_S:
            self._checked = time.monotonic()
            if await repo.settings_version(conn) != self._settings.version:
                self._settings = await repo.latest_settings(conn)
        return self._settings

    def invalidate(self) -> None:
        self._settings = None


class SettingsVersionConflict(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the settings are at version {current}")
        self.current = current


async def change_settings(
    tx: Tx, *, document: dict[str, Any], expected_version: int | None, actor: Actor
) -> Settings:
    """Validate, save (version + 1) and audit before and after. `InvalidSettings` or `SettingsVersionConflict`."""
    after = parse_settings(document, version=0)
    conn = tx.conn
    await repo.lock_settings(conn)
    before = await repo.latest_settings(conn)
    if expected_version is not None and before.version != expected_version:
        raise SettingsVersionConflict(before.version)
    version = await repo.insert_settings(conn, document=after.document(), by=actor.subject, now=tx.now)
    await audit.record(
        conn,
        actor=actor.subject,
        role=actor.role,
        action="feedback_settings.update",
        target="feedback_settings",
        detail={"before": before.document(), "after": after.document(), "version": version},
        at=tx.now,
    )
    return replace(after, version=version)
