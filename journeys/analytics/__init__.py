"""What journeys achieve: the facts (journey runs, email events) and the hourly roll-ups
every figure is read from (journeys/storage/analytics_tables.py says what each holds)."""
