"""The demo's end report: Markdown tables and PNG charts (matplotlib) from a `Snapshot`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.tally import Snapshot, percentile


@dataclass(frozen=True)
class RunInfo:
    minutes: float
    rate_per_min: float
    agents: int
    seed: int
    started: str
    machine: str
    agent_figures: dict[str, int] = field(default_factory=dict)
    """What the simulated desktops counted: offers, declines, knowledge lookups, suggestions used."""
    adapter_figures: dict[str, int] = field(default_factory=dict)
    """What the simulated adapters saw: posts and intake's outcomes (created, threaded, duplicate)."""
    queue_figures: list[dict[str, Any]] = field(default_factory=list)
    """Routing's `/v1/figures/queue` for the run: service level, abandon rate, speed of answer."""


def _ptile_row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | — | — | — |"
    return (
        f"| {name} | {len(values)} | {percentile(values, 0.5):,.1f} | {percentile(values, 0.9):,.1f} | "
        f"{percentile(values, 0.99):,.1f} |"
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def markdown(snap: Snapshot, run: RunInfo, charts: list[str]) -> str:
    resolved = snap.fcr[1]
    still_open = sum(v for k, v in snap.by_state.items() if k not in ("resolved", "closed"))
    lines = [
        "# Switchboard demo report",
        "",
        f"{run.started} · {run.minutes:g} min at {run.rate_per_min:g} contacts/min · {run.agents} agents · "
        f"seed {run.seed} · {run.machine}",
        "",
        "## Throughput",
        "",
        "| measure | value |",
        "|---|---|",
        f"| contacts received | {snap.contacts} |",
        f"| follow-up messages threaded | {snap.messages_threaded} |",
        f"| resolved | {resolved} ({resolved / max(run.minutes, 1e-9):,.1f}/min) |",
        f"| still open at the end | {still_open} |",
        "",
        "| channel | contacts |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in sorted(snap.by_channel.items())),
        "",
        "| category | contacts |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in sorted(snap.by_category.items())),
        "",
        "## Wait and handle times (seconds)",
        "",
        "| measure | n | p50 | p90 | p99 |",
        "|---|---|---|---|---|",
        _ptile_row("wait (received → accepted)", snap.wait_s),
        _ptile_row("handle (accepted → resolved)", snap.handle_s),
        _ptile_row("first reply (received → agent's reply)", snap.reply_s),
        "",
        f"Agents sent {snap.replies} replies; {snap.failed_deliveries} deliveries failed (reported by adapters). "
        f"{snap.abandoned} contacts were abandoned before an answer.",
        "",
        "## Queue: service level and abandonment",
        "",
        "Routing's figures for the run (`GET /v1/figures/queue`): service level is the share answered within the "
        "channel's threshold (configured in real seconds: phone 20 s, chat 60 s), of those answered or abandoned.",
        "",
        "| pool | channel | arrived | answered | abandoned | service level | abandon rate | speed of answer |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {f['pool']} | {f['channel']} | {f['arrived']} | {f['answered']} | {f['abandoned']} | "
            f"{_pct(f['service_level'])} (≤ {f['threshold_s']} s) | {_pct(f['abandon_rate'])} | "
            f"{_seconds(f['asa_s'])} |"
            for f in run.queue_figures
        ),
        "",
        "## SLA",
        "",
        f"Warnings {snap.sla.get('warnings', 0)}, breaches {snap.sla.get('breaches', 0)}, "
        f"escalations {snap.sla.get('escalations', 0)}.",
        "",
        "| clock | grade | met | missed | attainment |",
        "|---|---|---|---|---|",
        *(
            f"| {clock} | {grade} | {met} | {missed} | {100.0 * met / (met + missed):.1f} % |"
            for (clock, grade), (met, missed) in snap.attainment.items()
        ),
        "",
        "| escalation level | count |",
        "|---|---|",
        *(f"| {level} | {count} |" for level, count in snap.escalations_by_level.items()),
        "",
        "## Customers' view",
        "",
        "| measure | value |",
        "|---|---|",
        f"| surveys sent | {snap.surveys_sent} |",
        f"| CSAT answers | {snap.csat_answers} |",
        f"| satisfaction (share of 4–5) | {snap.satisfaction_pct:.1f} % |",
        f"| NPS | {snap.nps_score:.0f} |",
        f"| first-contact resolution | {snap.fcr_pct:.1f} % |",
        f"| low-score follow-ups (回访) | {snap.followups} |",
        f"| knowledge suggestions pushed | {snap.suggestions} |",
        "",
    ]
    if run.agent_figures or run.adapter_figures:
        lines += ["## Desks and adapters", "", "| measure | value |", "|---|---|"]
        lines += [f"| agents: {k.replace('_', ' ')} | {v} |" for k, v in run.agent_figures.items()]
        lines += [f"| adapters: {k} | {v} |" for k, v in run.adapter_figures.items()]
        lines.append("")
    if charts:
        lines += ["## Charts", "", *(f"![{Path(c).stem}]({Path(c).name})" for c in charts), ""]
    return "\n".join(lines)


def charts(snap: Snapshot, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, values, title in ((axes[0], snap.wait_s, "wait (s)"), (axes[1], snap.handle_s, "handle (s)")):
        ax.hist(values or [0], bins=30, color="#3b7dd8")
        ax.set_title(title)
        ax.set_ylabel("contacts")
    fig.tight_layout()
    path = out / "times.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(str(path))

    if snap.resolved_per_minute:
        fig, ax = plt.subplots(figsize=(10, 3))
        minutes = list(snap.resolved_per_minute)
        ax.bar(minutes, [snap.resolved_per_minute[m] for m in minutes], color="#2a9d8f")
        ax.set_xlabel("minute of the run")
        ax.set_ylabel("resolved")
        ax.set_title("resolutions per minute")
        fig.tight_layout()
        path = out / "throughput.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))

    if snap.attainment:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        labels = [f"{clock}\n{grade}" for clock, grade in snap.attainment]
        values = [100.0 * met / max(1, met + missed) for met, missed in snap.attainment.values()]
        ax.bar(labels, values, color="#e9c46a")
        ax.set_ylim(0, 100)
        ax.set_ylabel("% met")
        ax.set_title("SLA attainment by clock and grade")
        ax.tick_params(axis="x", labelsize=7)
        fig.tight_layout()
        path = out / "sla.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))

    if snap.csat:
        fig, ax = plt.subplots(figsize=(5, 3))
        scores = [1, 2, 3, 4, 5]
        ax.bar([str(s) for s in scores], [snap.csat.get(s, 0) for s in scores], color="#f4a261")
        ax.set_xlabel("CSAT (1 very dissatisfied ... 5 very satisfied)")  # no CJK font is guaranteed
        ax.set_ylabel("answers")
        fig.tight_layout()
        path = out / "csat.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))
    return written


def write_report(snap: Snapshot, run: RunInfo, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    made = charts(snap, out)
    path = out / "report.md"
    path.write_text(markdown(snap, run, made), encoding="utf-8")
    return path
