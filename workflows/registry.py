"""Finds the journeys (every module in workflows/journeys/) and routes event types to them.

Runs outside the sandbox, in the API (to dispatch) and the worker (to register workflows).
It reads each journey's source once to learn which event types ``wait_for`` waits on, so
dispatch knows which running journeys to signal without the author declaring them twice.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType

from journeys.contracts.journey_io import MERGED_EVENT
from workflows.checks import check_source, sent_templates, waited_event_types
from journeys.contracts.journey_spec import JourneySpec, Route
from workflows.engine import Journey

class JourneyDefinitionError(Exception):
    """Journey code that cannot run; the message names the file and line."""


@dataclass
class Registry:
    journeys: dict[str, JourneySpec] = field(default_factory=dict)
    # journey name -> (template, "file:line") for every send("literal") in its module
    templates: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # journey name -> every event type a running journey consumes (exit_on, wait_for, ...)
    listened: dict[str, frozenset[str]] = field(default_factory=dict)
    # Routes are asked for every event on the hot path and change only when a journey is added.
    _routes: dict[str, Route] = field(default_factory=dict, repr=False)

    def route(self, event_type: str) -> Route:
        route = self._routes.get(event_type)
        if route is None:
            starts = tuple(s for s in self.journeys.values() if event_type in s.triggers)
            signals = tuple(
                s for s in self.journeys.values() if event_type in self.listened[s.name] and s not in starts
            )
            route = self._routes[event_type] = Route(starts=starts, signals=signals)
        return route

    def cares_about(self, event_type: str) -> bool:
        route = self.route(event_type)
        return bool(route.starts or route.signals)

    @property
    def workflow_classes(self) -> list[type[Journey]]:
        return [spec.cls for spec in self.journeys.values()]

    def add(self, spec: JourneySpec) -> None:
        where = _where(spec.cls)
        if spec.name in self.journeys:
            other = _where(self.journeys[spec.name].cls)
            raise JourneyDefinitionError(f"{where}: journey name {spec.name!r} is already used at {other}")
        if spec.cls.steps is Journey.steps:
            raise JourneyDefinitionError(f"{where}: journey {spec.name!r} has no `async def steps(self, event)`")
        # One parse of the module serves every check; line numbers are the file's own.
        source_file = inspect.getsourcefile(spec.cls) or "<unknown>"
        module = ast.parse(inspect.getsource(inspect.getmodule(spec.cls)))  # type: ignore[arg-type]
        problems = check_source(module)
        if problems:
            raise JourneyDefinitionError("\n".join(f"{source_file}:{p.line}: {p.message}" for p in problems))
        body = next(
            n for n in ast.walk(module) if isinstance(n, ast.ClassDef) and n.name == spec.cls.__name__
        )
        waited, computed = waited_event_types(body)
        if computed and not spec.listens_to:
            line, method = computed[0]
            raise JourneyDefinitionError(
                f"{source_file}:{line}: {method}() is given a computed event type; "
                "declare the types it can take with @journey(listens_to=...)"
            )
        self.journeys[spec.name] = spec
        # Every running journey hears of its customer being merged into another (journeys/customers/identity.py).
        self.listened[spec.name] = spec.listened | frozenset(waited) | {MERGED_EVENT}
        self.templates[spec.name] = [(t, f"{source_file}:{line}") for t, line in sent_templates(body)]
        self._routes.clear()

    def check_templates(self, known: set[str]) -> None:
        """Refuse journeys that send a template that does not exist (named by file and line)."""
        missing = [
            f"{where}: journey {name!r} sends unknown template {template!r}"
            for name, sends in self.templates.items()
            for template, where in sends
            if template not in known
        ]
        if missing:
            listed = ", ".join(sorted(known)) or "none"
            raise JourneyDefinitionError("\n".join(missing) + f"\n(templates found: {listed})")


BUILTIN_PACKAGE = "workflows.builtin"


def discover(packages: str = "workflows.journeys") -> Registry:
    """Import every module of the (comma-separated) ``packages`` and register their journeys,
    after the engine's own (workflows/builtin/: the one-off send)."""
    registry = Registry()
    names = [p.strip() for p in packages.split(",") if p.strip() and p.strip() != BUILTIN_PACKAGE]
    for package in [BUILTIN_PACKAGE, *names]:
        root = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package}.{info.name}")
            for spec in _journeys_in(module):
                registry.add(spec)
    return registry


def _journeys_in(module: ModuleType) -> list[JourneySpec]:
    found = []
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, Journey) and value is not Journey:
            if value.__module__ != module.__name__:
                continue  # imported from elsewhere
            if "spec" not in vars(value):
                raise JourneyDefinitionError(
                    f"{_where(value)}: class {value.__name__} subclasses Journey but has no "
                    "@journey(trigger=...) decorator"
                )
            found.append(value.spec)
    return found


def _where(cls: type) -> str:
    try:
        return f"{inspect.getsourcefile(cls)}:{inspect.getsourcelines(cls)[1]}"
    except (OSError, TypeError):
        return cls.__module__
