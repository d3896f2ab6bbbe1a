"""A journey an anonymous visitor starts before signing up (tests/test_segment_end_to_end.py)."""
