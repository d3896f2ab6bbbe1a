"""A journey that branches on what the ESP reports back (tests/test_webhooks_end_to_end.py)."""
