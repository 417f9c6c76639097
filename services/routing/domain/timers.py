"""Due times of everything routing waits for (offer expiry, relaxation, holds, wrap-up, desktop grace,
booked callbacks, department deadlines, emergency pages).

One heap; setting a timer again replaces it, cancelling leaves a stale entry that `pop_due` skips.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TimerKind = Literal["offer", "relax", "hold", "wrap_up", "grace", "callback", "deadline", "page"]


@dataclass
class Timers:
    _heap: list[tuple[datetime, int, TimerKind, str]] = field(default_factory=list)
    _due: dict[tuple[TimerKind, str], tuple[datetime, int]] = field(default_factory=dict)
    _seq: int = 0

    def __len__(self) -> int:
        return len(self._due)

    def set(self, kind: TimerKind, key: str, due: datetime) -> None:
        self._seq += 1
        self._due[(kind, key)] = (due, self._seq)
        heapq.heappush(self._heap, (due, self._seq, kind, key))
        if len(self._heap) > 2 * len(self._due) + 256:
            self._heap = [(d, s, k, i) for (k, i), (d, s) in self._due.items()]
            heapq.heapify(self._heap)

    def cancel(self, kind: TimerKind, key: str) -> None:
        self._due.pop((kind, key), None)

    def get(self, kind: TimerKind, key: str) -> datetime | None:
        entry = self._due.get((kind, key))
        return entry[0] if entry else None

    def next_due(self) -> datetime | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[tuple[TimerKind, str]]:
        """Every timer due at or before `now`, earliest first; each is removed."""
        fired: list[tuple[TimerKind, str]] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return fired
            _, _, kind, key = heapq.heappop(self._heap)
            del self._due[(kind, key)]
            fired.append((kind, key))

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            due, seq, kind, key = heap[0]
            if self._due.get((kind, key)) == (due, seq):
                return
            heapq.heappop(heap)
