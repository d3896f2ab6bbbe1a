"""Is one variant's conversion rate really different from the control's? A two-sided
two-proportion z-test (pooled), the test Optimizely's and most A/B calculators began
with: simple, and exact enough once each group has a few conversions.

Below the minimum sample (too few entries, or fewer than five conversions or
non-conversions in a group, where the normal approximation does not hold) the answer
is "not enough data yet" and no figure is given.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

CONFIDENCE = 0.95
ALPHA = 0.05  # 1 - CONFIDENCE, written out: 1 - 0.95 is 0.050000000000000044 in floating point
MIN_SUCCESSES = 5  # and as many failures: np >= 5 and n(1 - p) >= 5 in each group


class Significance(BaseModel):
    goal: str
    control: str
    variant: str
    control_rate: float | None
    variant_rate: float | None
    lift: float | None  # (variant - control) / control
    z: float | None
    p_value: float | None
    significant: bool
    verdict: str


def compare(goal: str, control: str, n1: int, x1: int, variant: str, n2: int, x2: int, min_entries: int) -> Significance:
    """``x`` conversions out of ``n`` entries in the control (1) and the variant (2)."""
    rate1 = x1 / n1 if n1 else None
    rate2 = x2 / n2 if n2 else None
    lift = (rate2 - rate1) / rate1 if rate1 and rate2 is not None else None
    enough = all(n >= max(min_entries, 1) and x >= MIN_SUCCESSES and n - x >= MIN_SUCCESSES for n, x in ((n1, x1), (n2, x2)))
    if not enough:
        return Significance(
            goal=goal, control=control, variant=variant, control_rate=rate1, variant_rate=rate2, lift=lift,
            z=None, p_value=None, significant=False, verdict="not enough data yet",
        )
    pooled = (x1 + x2) / (n1 + n2)
    z = (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Decided on the p-value as shown (four decimals): a p that reads 0.0500 is never
    # called significant, whatever digits lie beyond.
    p_value = round(math.erfc(abs(z) / math.sqrt(2)), 4)
    significant = p_value < ALPHA
    if not significant:
        verdict = f"no significant difference yet (p = {p_value:.4f})"
    else:
        better = variant if z > 0 else control
        verdict = f"{better} converts better ({CONFIDENCE:.0%} confidence, p = {p_value:.4f})"
    return Significance(
        goal=goal, control=control, variant=variant, control_rate=rate1, variant_rate=rate2, lift=lift,
        z=round(z, 4), p_value=p_value, significant=significant, verdict=verdict,
    )


def control_of(variants: list[str]) -> str:
    """The variant the others are compared with: one named "control", else the first by name."""
    return "control" if "control" in variants else sorted(variants)[0]
