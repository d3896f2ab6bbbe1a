"""Journeys that exercise the send policy (tests/workflows/test_send_policy.py)."""
