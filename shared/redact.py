"""Personal data kept out of what operators read: logs, spans, metrics and dead-letter headers (RULES.md
"Security"). `mask_pii` masks e-mail addresses and phone numbers in free text; `describe` says what failed without
the data an error's text can carry; `record_error` and `format_exception` put that on a span or in a log line."""

from __future__ import annotations

import re
import traceback
import types

import asyncpg
from fastapi.exceptions import RequestValidationError
from opentelemetry.trace import Span
from pydantic import ValidationError

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![0-9A-Za-z])(\+?\d[\d -]{5,}\d)(?![0-9A-Za-z])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def mask_pii(text: str) -> str:
    """Mask e-mail addresses and phone-like numbers in free text before it reaches a log or a span."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: _mask_digits(m.group(1)), text)


def _mask_digits(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 7 or _DATE.fullmatch(number):
        return number
    return number[:3] + "****" + "".join(digits[-2:])


def describe(exc: BaseException, *, limit: int = 500) -> str:
    """What failed, for a log line, a span or a dead-letter header, without the personal data an error's text can
    carry (RULES.md "Security"): a validation error by field and rule, never its input; a PostgreSQL error by
    its message with every quoted value elided but the names of the schema objects it reports; e-mail
    addresses and phone numbers masked in anything else."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        text = f"{exc.error_count()} validation error(s) for {exc.title}: " + "; ".join(parts)
    elif isinstance(exc, RequestValidationError):
        found = exc.errors()
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg', 'invalid')}" for e in found
        ]
        text = f"{len(found)} validation error(s): " + "; ".join(parts)
    elif isinstance(exc, asyncpg.PostgresError):
        names = {
            str(n)
            for n in (exc.schema_name, exc.table_name, exc.column_name, exc.data_type_name, exc.constraint_name)
            if n
        }
        message = _QUOTED.sub(lambda m: m.group(0) if m.group(1) in names else '"…"', str(exc.message))
        text = f"SQLSTATE {exc.sqlstate}: {message}"
    else:
        text = str(exc)
    return mask_pii(f"{type(exc).__name__}: {text}")[:limit]


_QUOTED = re.compile(r'"([^"]*)"')


def record_error(span: Span, exc: BaseException) -> None:
    """Record a failure on a span as `record_exception` does, but with `describe`'s text for its message and
    the last line of its stack trace (the frames are code, the message may be a customer's)."""
    text = describe(exc)
    frames = "".join(traceback.format_tb(exc.__traceback__))
    span.record_exception(
        exc,
        attributes={"exception.message": text, "exception.stacktrace": f"Traceback:\n{frames}{text}\n"},
    )


def format_exception(exc: BaseException | None, tb: types.TracebackType | None = None) -> str:
    """A traceback for a log line: every frame, and `describe`'s text where the exception's own would be."""
    if exc is None:
        return ""
    frames = "".join(traceback.format_tb(tb or exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{describe(exc, limit=2000)}"
