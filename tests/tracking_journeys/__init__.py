"""A journey that branches on a tracked click (tests/test_tracking_end_to_end.py)."""
