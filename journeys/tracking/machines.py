"""Telling a person's open or click from a machine's: the rules live in
journeys/intake/machines.py, below this package, because an ESP's webhook (journeys/intake/)
classifies the opens and clicks it reports with the same ones as our own pixel and links."""

from journeys.intake.machines import (
    APPLE_NETWORK,
    BARE_AGENT,
    CLICK_ONLY_AGENTS,
    PROXY_AGENTS,
    SCANNER_AGENTS,
    EarlierClick,
    Machine,
    Rules,
    Verdict,
    burst,
    classify_click,
    classify_open,
)

__all__ = [
    "APPLE_NETWORK", "BARE_AGENT", "CLICK_ONLY_AGENTS", "PROXY_AGENTS", "SCANNER_AGENTS", "EarlierClick", "Machine", "Rules",
    "Verdict", "burst", "classify_click", "classify_open",
]
