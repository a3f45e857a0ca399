"""What an on-call operator reads: executions listed, and one shown state by state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_FAILURE_DETAILS = (
    "lambdaFunctionFailedEventDetails",
    "taskFailedEventDetails",
    "executionFailedEventDetails",
)


@dataclass
class StateRun:
    """One visit of one state, as the console's graph inspector shows it."""

    name: str
    kind: str
    entered: datetime
    exited: datetime | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    output: Any = None

    @property
    def seconds(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()

    @property
    def status(self) -> str:
        if self.kind == "Fail":
            return "failed"
        if self.exited is None:
            return "failed" if self.failures else "running"
        if self.failures:
            return f"ok after {len(self.failures)} retr{'y' if len(self.failures) == 1 else 'ies'}"
        return "ok"


def _cause_line(cause: str) -> str:
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return (cause or "").strip().splitlines()[0] if cause else ""
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def state_runs(events: list[dict[str, Any]]) -> list[StateRun]:
    """Turn an execution history into state visits, in order, with their failures."""
    runs: list[StateRun] = []
    open_runs: dict[str, list[StateRun]] = {}
    last: StateRun | None = None
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            run = StateRun(name=name, kind=kind[: -len("StateEntered")], entered=event["timestamp"])
            runs.append(run)
            open_runs.setdefault(name, []).append(run)
            last = run
        elif kind.endswith("StateExited"):
            details = event["stateExitedEventDetails"]
            waiting = open_runs.get(details["name"]) or []
            finished = waiting.pop(0) if waiting else None
            if finished is not None:
                finished.exited = event["timestamp"]
                try:
                    finished.output = json.loads(details.get("output") or "null")
                except json.JSONDecodeError:
                    finished.output = details.get("output")
        else:
            for key in _FAILURE_DETAILS[:2]:
                if key in event and last is not None:
                    details = event[key]
                    last.failures.append(
                        (details.get("error", ""), _cause_line(details.get("cause", "")))
                    )
    return runs


def format_execution(description: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """One execution, state by state: status, duration, and error and cause where any."""
    start = description["startDate"]
    stop = description.get("stopDate")
    took = f"{(stop - start).total_seconds():.1f} s" if stop else "running"
    lines = [
        f"{description['name']}  {description['status']}  started {start:%Y-%m-%d %H:%M:%S}  {took}"
    ]
    rows = [("#", "state", "type", "status", "seconds")]
    runs = state_runs(events)
    for i, run in enumerate(runs, start=1):
        seconds = "" if run.seconds is None else f"{run.seconds:.2f}"
        rows.append((str(i), run.name, run.kind, run.status, seconds))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip())
    for run in runs:
        for error, cause in run.failures:
            lines.append(f"  ! {run.name}: {error}: {cause}")
    if description["status"] == "FAILED":
        lines.append(
            f"  execution error: {description.get('error', '')}: "
            f"{_cause_line(description.get('cause', ''))}"
        )
    return "\n".join(lines)


def format_executions(executions: list[dict[str, Any]]) -> str:
    """A table of executions, newest first."""
    if not executions:
        return "no executions yet"
    rows = [("name", "status", "started", "seconds")]
    for e in executions:
        stop = e.get("stopDate")
        seconds = f"{(stop - e['startDate']).total_seconds():.1f}" if stop else ""
        rows.append((e["name"], e["status"], f"{e['startDate']:%Y-%m-%d %H:%M:%S}", seconds))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() for row in rows
    )


_COUNTS = ("total", "running", "succeeded", "failed", "pending", "timedOut", "aborted")


def format_map_runs(map_runs: list[dict[str, Any]], failed_items: list[dict[str, Any]]) -> str:
    """A Distributed Map's runs (DescribeMapRun): items total, running, succeeded and
    failed, then each failed item with its error and cause."""
    if not map_runs:
        return ""
    lines = ["  map runs:"]
    for run in map_runs:
        counts = run.get("itemCounts", {})
        shown = ", ".join(
            f"{k} {counts.get(k, 0)}" for k in _COUNTS if counts.get(k) or k in _COUNTS[:4]
        )
        label = run["mapRunArn"].split(":")[-2] if ":" in run["mapRunArn"] else run["mapRunArn"]
        lines.append(
            f"    {label}  {run.get('status', '')}  items: {shown}  "
            f"(max concurrency {run.get('maxConcurrency', 0)}, "
            f"tolerated failures {run.get('toleratedFailurePercentage', 0):g}%)"
        )
    for item in failed_items:
        lines.append(f"  ! item {item['item']}: {item['error']}: {item['cause']}")
    return "\n".join(lines)
