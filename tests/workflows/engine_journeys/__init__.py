"""Small journeys that exercise one engine feature each (used by test_engine.py)."""
