"""A/B split assignment: weighted, and the same every time for the same customer."""

from __future__ import annotations

import hashlib


def choose_variant(journey_name: str, split: str, customer_id: str, variants: dict[str, int]) -> str:
    """Weighted, and the same every time for the same journey, split and customer."""
    if not variants or any(w < 0 for w in variants.values()) or sum(variants.values()) <= 0:
        raise ValueError(f"split {split!r}: give variants with non-negative weights that add up to more than 0")
    digest = hashlib.sha256(f"{journey_name}\0{split}\0{customer_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(variants.values())
    for variant, weight in variants.items():
        if point < weight:
            return variant
        point -= weight
    raise AssertionError("unreachable")
