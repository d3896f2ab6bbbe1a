"""Journeys' own packages, one per room of the house: see "Architecture" in the README.

The required top-level names (``api/``, ``workflows/``, ``activities/``, ``worker.py``)
are the entry points and the journeys; everything they stand on lives here, so an
install adds one name, ``journeys``, to site-packages.
"""
