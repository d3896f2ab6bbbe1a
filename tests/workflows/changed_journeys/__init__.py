"""A careless edit of a shipped journey, to prove that replay catches it (test_replay.py)."""
