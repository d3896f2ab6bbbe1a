"""The journey test kit: journeys on Temporal's time-skipping server, a month in a second.

A pytest plugin, outside the runtime library (nothing under api/, worker.py or the
services imports it; it is the only place pytest is imported). Enable it with
``pytest_plugins = ["journeys.testkit"]`` in ``conftest.py``; see plugin.py.
"""

from journeys.testkit.kit import JourneyEnv, register_search_attributes, running_journeys
from journeys.testkit.plugin import journey_env, journey_registry, journey_settings, time_skipping_env

__all__ = [
    "JourneyEnv",
    "journey_env",
    "journey_registry",
    "journey_settings",
    "register_search_attributes",
    "running_journeys",
    "time_skipping_env",
]
