"""Journeys the engine itself needs; always registered, whatever JOURNEYS_JOURNEY_PACKAGES says."""
