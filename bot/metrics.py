"""A few counters, exposed at ``GET /metrics`` in Prometheus' text format.

Enough to see that Slack reaches us, that we answer, and whether deliveries fail,
without pulling in a metrics library.
"""

from __future__ import annotations

from collections import Counter

HELP = {
    "intake_slack_requests_total": "HTTP requests to /slack/events, by response status.",
    "intake_slack_events_total": "Slack events, actions and forms processed, by kind.",
    "intake_slack_duplicates_total": "Slack events skipped because they were seen before.",
    "intake_slack_deliveries_total": "Outbox deliveries to Slack, by result.",
    "intake_slack_outbox_messages": "Slack outbox messages, by status.",
}
GAUGES = {"intake_slack_outbox_messages"}


class Metrics:
    """Counters keyed by (name, label value); one label per metric keeps the format simple."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def inc(self, name: str, label: str = "", value: str = "", by: int = 1) -> None:
        self.counts[(name, label, value)] += by

    def get(self, name: str, label: str = "", value: str = "") -> int:
        return self.counts[(name, label, value)]

    def render(self, gauges: dict[tuple[str, str, str], int] | None = None) -> str:
        """The exposition text; ``gauges`` are values measured at scrape time."""
        samples = dict(self.counts)
        samples.update(gauges or {})
        lines: list[str] = []
        for name in sorted({key[0] for key in samples} | set(HELP)):
            lines.append(f"# HELP {name} {HELP.get(name, name)}")
            lines.append(f"# TYPE {name} {'gauge' if name in GAUGES else 'counter'}")
            for (metric, label, value), count in sorted(samples.items()):
                if metric != name:
                    continue
                labels = f'{{{label}="{_escape(value)}"}}' if label else ""
                lines.append(f"{name}{labels} {count}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
