"""Intake: where events come in and are stored before the 202 (the event store with its
outbox rows), and what is turned into events on the way (Segment calls, ESP feedback)."""
