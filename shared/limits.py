"""Bad input is cheap: request bodies are counted on the stream (chunked ones too) and refused past the limit
before anything parses them, JSON is refused when nested too deep or carrying text that is not Unicode, and
each caller (adapter key or user) has a token bucket of requests per process."""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import Problem, problem_response

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[]{}", b"()()")
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def json_trouble(body: bytes, *, max_depth: int) -> str | None:
    """Why a JSON body must be refused before it is parsed, or None. Linear in the body, at C speed: strings are
    blanked, what is left but brackets dropped, and the deepest running count of open brackets measured."""
    brackets = _STRING.sub(b'""', body).translate(_AS_PARENS, _NOT_BRACKETS)
    if len(brackets) > 2 * max_depth and _deepest(brackets) > max_depth:
        return f"JSON is nested more than {max_depth} levels deep"
    if _ESCAPED_SURROGATE.search(body):
        try:
            json.dumps(json.loads(body), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return "JSON text holds a lone UTF-16 surrogate (\\ud800–\\udfff), which is not Unicode text"
        except ValueError:
            return None  # not JSON at all: the parser will say so
    return None


def _deepest(parens: bytes) -> int:
    import numpy as np  # only for bodies with many brackets; numpy is imported by nothing else on this path

    steps = np.frombuffer(parens, dtype=np.uint8).astype(np.int32)
    return int(np.cumsum(81 - 2 * steps).max())  # "(" is 40 → +1, ")" is 41 → -1


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope.get("headers", ())).get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return not content_type or content_type.endswith(b"json")


class RequestLimits:
    """Bodies over `max_bytes` get 413 as soon as the count passes the limit (Content-Length up front, a chunked
    stream while it arrives: the rest is never read); JSON bodies get 422 when `json_trouble` finds a reason.
    The checked body is handed on to the app as it came."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int = 64) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, f"the body is {int(length)} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay(b"", receive, first=message), send)
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, f"the body passed {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and _is_json(scope):
            trouble = json_trouble(body, max_depth=self.max_json_depth)
            if trouble is not None:
                response = problem_response(Request(scope), 422, "Validation failed", trouble, kind="validation")
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, what: str) -> None:
        detail = f"{what}; the limit is {self.max_bytes}"
        response = problem_response(
            Request(scope), status, "Payload too large", detail, headers={"Connection": "close"}
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive, *, first: Message | None = None) -> Receive:
    pending: list[Message] = [first] if first is not None else [{"type": "http.request", "body": body}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


class RateLimits:
    """A token bucket per caller: `rate` requests a second on average, bursts of up to `burst`. Callers not seen
    for a while are forgotten (least recently used first) so the table stays small. A rate of 0 turns it off."""

    def __init__(
        self, *, rate: float, burst: float, callers: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.callers = callers
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str) -> float:
        """0 if the caller may go on (a token is spent), else the seconds until a token is there."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, then = self._buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[caller] = (tokens - 1 if wait == 0 else tokens, now)
        if len(self._buckets) > self.callers:
            self._buckets.popitem(last=False)
        return wait


def rate_limited(limits: RateLimits, caller: str) -> None:
    """Raise 429 with Retry-After (whole seconds, at least 1) when `caller` has no token left."""
    wait = limits.take(caller)
    if wait > 0:
        seconds = max(1, int(wait + 0.999))
        raise Problem(
            429,
            "Too many requests",
            f"this caller may send {limits.rate:g} requests a second (bursts of {limits.burst:g}); "
            f"try again in {seconds} s",
            kind="rate-limited",
            headers={"Retry-After": str(seconds)},
        )
