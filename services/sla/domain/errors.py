"""The errors SLA's use cases raise for a request they refuse; the route's `transaction` turns each into its
problem+json answer (`services/sla/api/common.py`)."""

from __future__ import annotations

from services.sla.domain.grades import Looser


class UnknownCalendar(LookupError):
    """No calendar by that id."""


class UnknownDay(LookupError):
    """The date is not a listed day (holiday or make-up day) of the calendar."""


class UnknownContact(LookupError):
    """SLA has seen no event of the contact."""


class NotYourContact(LookupError):
    """An agent asked for a contact whose work they do not hold."""


class UnknownPolicy(LookupError):
    """No policy by that id."""


class CalendarInUse(Exception):
    """An active policy or an open clock still uses the calendar."""


class PolicyKeysTaken(Exception):
    """Another active policy already covers the same keys (grade, priority class, channel)."""

    def __init__(self, detail: str, *, policy_id: str) -> None:
        super().__init__(detail)
        self.policy_id = policy_id


class VersionMismatch(Exception):
    """The caller's `If-Match` names another version than the stored one."""

    def __init__(self, detail: str, *, version: int) -> None:
        super().__init__(detail)
        self.version = version


class LooserGrade(Exception):
    """C-5: the save makes a higher grade looser than a lower one, and carries no override reason."""

    def __init__(self, looser: list[Looser]) -> None:
        more = f" (and {len(looser) - 1} more)" if len(looser) > 1 else ""
        super().__init__(
            f"{looser[0].text()}{more}; a higher grade is never looser (C-5): tighten it, or send override_reason "
            "to save it anyway (audited)"
        )
        self.looser = looser
