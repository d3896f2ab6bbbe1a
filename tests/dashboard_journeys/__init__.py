"""The journey of the dashboard's scripted scenario (tests/scenario.py), with its templates."""
