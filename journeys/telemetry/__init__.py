"""What an operator follows a running Journeys by: Prometheus metrics and the ids in log lines.

- ``metrics``: every metric, in one registry, with helpers to time things and the exposition;
- ``log_context``: the ids of the work at hand (event, workflow, message, customer), carried
  by contextvars into every log line (journeys/storage/logs.py writes them in JSON mode);
- ``endpoints``: the worker's HTTP endpoint and the process's Temporal runtime (SDK metrics).

It sits beside journeys/storage (README, "Architecture"): it imports nothing of ours, so
every service can count and tag without a cycle, and workflow code may not import it.
"""
