"""Journeys used only by the benchmarks (JOURNEYS_JOURNEY_PACKAGES adds them)."""
