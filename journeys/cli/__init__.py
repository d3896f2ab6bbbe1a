"""The ``journeys`` command: it wires everything together, so it may import everything."""
