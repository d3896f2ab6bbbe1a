"""What each template is: transactional, or marketing about a topic (templates/<name>/template.toml).

The category decides the send policy: marketing mail needs the customer subscribed to
its topic, carries one-click unsubscribe, and is held by frequency caps and quiet hours;
transactional mail (receipts, password resets, the welcome) is only stopped by a hard
bounce. Every template must declare it: the worker refuses to start otherwise.

    # templates/cart_reminder/template.toml
    category = "marketing"
    topic = "offers"
    # optional: track_opens = true|false, track_clicks = true|false (else the category's default)
    # optional: strict = true (a missing variable fails the send instead of rendering empty),
    #           locale = "en" (the language of the files without a locale in their name),
    #           [sample.customer] / [sample.context] (what `journeys templates check` renders)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from journeys.contracts.send_rules import RESERVED_TOPICS, TOPIC_PATTERN

META_FILE = "template.toml"
# A language tag as template file names carry it (body.fr.html, subject.pt-BR.txt): BCP 47's
# language, then optional script and region; "_" is accepted as customers' locales may use it.
LOCALE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")

Category = Literal["transactional", "marketing"]


class TemplateError(Exception):
    """A template that cannot be used: unknown, undeclared, broken, or asking for what it may not."""


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    category: Category
    topic: str | None  # marketing only
    # Open and click tracking (journeys/tracking): None means the category's default
    # (settings track_opens_marketing, ...); template.toml's track_opens / track_clicks.
    track_opens: bool | None = None
    track_clicks: bool | None = None
    # strict = true: a missing variable fails the send (naming it) instead of rendering empty.
    strict: bool = False
    # The language of the files without a locale in their name (subject.txt, body.html).
    locale: str = "en"

    @property
    def is_marketing(self) -> bool:
        return self.category == "marketing"


class TemplateCatalog:
    """Reads each template's declaration once (restart the worker after changing one)."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self._infos: dict[str, TemplateInfo] = {}

    def names(self) -> list[str]:
        if not self.templates_dir.is_dir():
            return []
        # _folders (the _footer) and hidden ones are parts, not templates a journey sends.
        return sorted(
            p.name
            for p in self.templates_dir.iterdir()
            if not p.name.startswith(("_", ".")) and (p / "subject.txt").is_file()
        )

    def get(self, name: str) -> TemplateInfo:
        info = self._infos.get(name)
        if info is None:
            if not name or "/" in name or name.startswith((".", "_")) or not (self.templates_dir / name / "subject.txt").is_file():
                known = ", ".join(self.names()) or "none"
                raise TemplateError(f"unknown template {name!r} (known: {known})")
            info = self._infos[name] = _read(self.templates_dir / name)
        return info

    def check(self) -> list[str]:
        """A problem per template that declares no valid category (empty when all are fine)."""
        problems = []
        for name in self.names():
            try:
                self.get(name)
            except TemplateError as exc:
                problems.append(str(exc))
        return problems

    def topics(self) -> list[str]:
        """Every marketing topic some template is about."""
        found = set()
        for name in self.names():
            try:
                info = self.get(name)
            except TemplateError:
                continue
            if info.topic:
                found.add(info.topic)
        return sorted(found)


@dataclass(frozen=True)
class TemplateOptions:
    """What template.toml says about rendering (the renderer needs no category): read
    apart from TemplateInfo so a folder without a declaration still renders in tests."""

    strict: bool = False
    locale: str = "en"
    # [sample]: {"customer": {...}, "context": {...}}, for previews and `journeys templates check`.
    sample: dict[str, Any] = field(default_factory=dict)


def read_options(folder: Path) -> TemplateOptions:
    """The rendering options of a template folder; defaults when it has no template.toml."""
    meta = folder / META_FILE
    return _options(meta, _load(meta)) if meta.is_file() else TemplateOptions()


def _options(meta: Path, data: dict[str, Any]) -> TemplateOptions:
    locale = data.get("locale", "en")
    if not isinstance(locale, str) or not LOCALE_PATTERN.match(locale):
        raise TemplateError(f"{meta}: locale must be a language tag such as \"en\" or \"pt-BR\", got {locale!r}")
    sample = data.get("sample", {})
    if not isinstance(sample, dict) or not set(sample) <= {"customer", "context"} or not all(
        isinstance(part, dict) for part in sample.values()
    ):
        raise TemplateError(f"{meta}: [sample] holds only the tables [sample.customer] and [sample.context]")
    return TemplateOptions(strict=bool(_flag(meta, data, "strict")), locale=locale.replace("_", "-"), sample=sample)


def _load(meta: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(meta.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{meta}: {exc}") from exc


def _read(folder: Path) -> TemplateInfo:
    meta = folder / META_FILE
    example = 'category = "transactional", or category = "marketing" with topic = "<topic>"'
    if not meta.is_file():
        raise TemplateError(f"template {folder.name!r} declares no category: add {meta} with {example}")
    data = _load(meta)
    options = _options(meta, data)
    category, topic = data.get("category"), data.get("topic")
    opens, clicks = _flag(meta, data, "track_opens"), _flag(meta, data, "track_clicks")
    if category == "transactional":
        if topic is not None:
            raise TemplateError(f"{meta}: a transactional template has no topic (remove topic = {topic!r})")
        return TemplateInfo(folder.name, "transactional", None, opens, clicks, options.strict, options.locale)
    if category == "marketing":
        if not isinstance(topic, str) or not TOPIC_PATTERN.match(topic) or topic in RESERVED_TOPICS:
            raise TemplateError(
                f"{meta}: a marketing template needs topic = \"<topic>\" (lower case letters, digits, _ or -; "
                f"not {', '.join(sorted(RESERVED_TOPICS))}), got {topic!r}"
            )
        return TemplateInfo(folder.name, "marketing", topic, opens, clicks, options.strict, options.locale)
    raise TemplateError(f"{meta}: category is {category!r}; expected {example}")


def _flag(meta: Path, data: dict[str, object], name: str) -> bool | None:
    """A switch: true, false, or absent (the default). Anything else ("no", 0) is refused:
    a typo must not quietly track a password reset, or quietly turn strictness off."""
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise TemplateError(f"{meta}: {name} must be true or false, got {value!r}")
