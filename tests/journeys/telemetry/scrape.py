"""Reading a Prometheus endpoint as a user's Prometheus would, and the naming rules every
family must follow (https://prometheus.io/docs/practices/naming/)."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Labels that would make a series per customer, message or request.
ID_LABELS = {"customer_id", "message_id", "event_id", "workflow_id", "run_id", "path", "email"}


class Scrape:
    """One scrape: its families by name, and sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: list[Sample] = [s for family in self.families.values() for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly these labels; 0 if the series is not there (an
        unseen label combination of a counter is 0 to Prometheus too)."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def types(self) -> dict[str, str]:
        return {name: family.type for name, family in self.families.items()}


def naming_problems(scrape: Scrape, prefix: str) -> list[str]:
    """What breaks the conventions: the prefix, snake case, ``_total`` on counter samples,
    durations in ``_seconds`` (never ms), and no id among the labels."""
    problems = []
    for name, family in scrape.families.items():
        if not name.startswith(prefix) or not NAME.match(name):
            problems.append(f"{name}: not snake case under {prefix!r}")
        if family.type == "counter" and any(not s.name.endswith("_total") for s in family.samples):
            problems.append(f"{name}: a counter whose samples do not end in _total")
        if family.type != "counter" and name.endswith("_total"):
            problems.append(f"{name}: _total on a {family.type}")
        if family.type == "histogram" and not name.endswith("_seconds"):
            problems.append(f"{name}: a histogram (a duration) not in seconds")
        if re.search(r"(_ms|_milliseconds|_millis)$", name) or (("latency" in name or "duration" in name) and not name.endswith("_seconds")):
            problems.append(f"{name}: a duration not in seconds")
        for sample in family.samples:
            bad = ID_LABELS & set(sample.labels)
            if bad:
                problems.append(f"{name}: id labels {sorted(bad)}")
    return problems
