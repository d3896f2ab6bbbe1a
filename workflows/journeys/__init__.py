"""The journeys. One module per journey: add a file here and restart the worker."""
