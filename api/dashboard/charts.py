"""Charts as inline SVG, drawn here: no JavaScript, no chart library, nothing to load.

Every text in a chart goes through ``escape``: a step or goal name is text, like
everything else on the pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from journeys.analytics.report import Funnel, StepFigures

WIDTH = 1000
LABEL_WIDTH = 250  # labels right-aligned in this column
BAR_LEFT = LABEL_WIDTH + 10
BAR_WIDTH = 560
ROW = 28
BAR = 18
MAX_LABEL = 34  # characters; the whole name is in the bar's tooltip
# A calm palette: the journey's own rows in slate, sends in teal (lighter as the
# message goes further), goals in amber.
COLOURS = {"journey": "#5a7194", "sent": "#2f8577", "opened": "#5fae9f", "clicked": "#9bcfc4", "goal": "#c98c3c"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    kind: str  # a key of COLOURS
    base: int | None = None  # what the percentage is of (None: no percentage)
    base_name: str = ""
    indent: bool = False


def ordered_steps(steps: list[StepFigures]) -> list[StepFigures]:
    """Steps most sent first: the report knows step names, not their order in the code,
    and in a funnel a later step sends to fewer customers."""
    return sorted(steps, key=lambda s: (-s.sent, s.step))


def funnel_bars(funnel: Funnel) -> list[Bar]:
    """Entered, each step's sent / opened / clicked, completed and each goal."""
    bars = [Bar("entered", funnel.entered, "journey")]
    for step in ordered_steps(funnel.steps):
        bars.append(Bar(f"{step.step}: sent", step.sent, "sent", funnel.entered, "of entered"))
        bars.append(Bar("opened", step.opened, "opened", step.sent, "of sent", indent=True))
        bars.append(Bar("clicked", step.clicked, "clicked", step.sent, "of sent", indent=True))
    bars.append(Bar("completed", funnel.completed, "journey", funnel.entered, "of entered"))
    for goal, n in sorted(funnel.converted.items()):
        bars.append(Bar(f"converted: {goal}", n, "goal", funnel.entered, "of entered"))
    return bars


def tick_step(largest: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most five ticks up to ``largest``."""
    power = 1
    while True:
        for factor in (1, 2, 5):
            if largest <= 4 * factor * power:
                return factor * power
        power *= 10


def bar_chart(bars: list[Bar], title: str) -> Markup:
    """Horizontal bars on one scale (the largest value), each labelled with its count and,
    where it has one, its share of what it follows from."""
    step = tick_step(max([b.value for b in bars] + [1]))
    top = step * -(-max([b.value for b in bars] + [1]) // step)  # the largest value, rounded up to a tick
    height = len(bars) * ROW + 34
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(0, top + 1, step):  # light guides at round numbers
        x = BAR_LEFT + tick / top * BAR_WIDTH
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 26}" stroke="#e4e7ec"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" fill="#8a94a3">{tick:,}</text>')
    for i, bar in enumerate(bars):
        y = 8 + i * ROW
        length = bar.value / top * BAR_WIDTH
        label = bar.label if len(bar.label) <= MAX_LABEL else bar.label[: MAX_LABEL - 1] + "…"
        weight = "400" if bar.indent else "600"
        colour = "#5b6675" if bar.indent else "#1f2a37"
        parts.append(
            f'<text x="{LABEL_WIDTH}" y="{y + BAR - 5}" text-anchor="end" fill="{colour}" font-weight="{weight}">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{BAR_LEFT}" y="{y}" width="{max(length, 1.5 if bar.value else 0):.1f}" height="{BAR}" rx="3" '
            f'fill="{COLOURS[bar.kind]}"><title>{escape(bar.label)}: {bar.value:,}</title></rect>'
        )
        share = f" · {bar.value / bar.base:.0%} {bar.base_name}" if bar.base else ""
        parts.append(
            f'<text x="{BAR_LEFT + length + 8:.1f}" y="{y + BAR - 5}" fill="#1f2a37">'
            f'<tspan font-weight="600">{bar.value:,}</tspan><tspan fill="#6b7685">{escape(share)}</tspan></text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
