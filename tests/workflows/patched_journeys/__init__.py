"""The same edit as changed_journeys/, done safely with workflow.patched (test_replay.py)."""
