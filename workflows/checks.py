"""Static checks of journey source, run when journeys are discovered (worker and API start).

Journey code runs inside Temporal's workflow sandbox, which would also stop most of
these at run time, but only once a customer reaches that line. Checking the source
up front turns "a journey failed in production on day 3" into "the worker refuses to
start", with the file and line in the message.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

# Modules whose import means I/O or nondeterminism in a journey.
FORBIDDEN_IMPORTS = {
    "os": "does I/O",
    "subprocess": "does I/O",
    "socket": "does I/O",
    "requests": "does network I/O; do it in an activity",
    "httpx": "does network I/O; do it in an activity",
    "aiohttp": "does network I/O; do it in an activity",
    "urllib": "does network I/O; do it in an activity",
    "sqlalchemy": "talks to the database; journeys get data from the engine",
    "sqlmodel": "talks to the database; journeys get data from the engine",
    "psycopg": "talks to the database; journeys get data from the engine",
    "random": "is not deterministic; use self.split(...) or data from an event",
    "threading": "is not deterministic",
}

# The project's own code a journey may import: the engine and the sandbox-safe contracts.
# Everything else of ours (storage, dispatch, activities, the API) does I/O outside the
# sandbox; a journey gets data from the engine and acts through activities.
PROJECT_ROOTS = {"journeys", "activities", "api", "worker"}
ALLOWED_PROJECT_PREFIX = "journeys.contracts"

# Dotted calls (as written, after the usual import aliases) and what to use instead.
FORBIDDEN_CALLS = {
    "datetime.now": "reads the wall clock; use self.now()",
    "datetime.utcnow": "reads the wall clock; use self.now()",
    "datetime.today": "reads the wall clock; use self.now()",
    "datetime.datetime.now": "reads the wall clock; use self.now()",
    "datetime.datetime.utcnow": "reads the wall clock; use self.now()",
    "date.today": "reads the wall clock; use self.now().date()",
    "time.time": "reads the wall clock; use self.now()",
    "time.time_ns": "reads the wall clock; use self.now()",
    "time.monotonic": "reads the wall clock; use self.now()",
    "time.perf_counter": "reads the wall clock; use self.now()",
    "time.sleep": "blocks the worker; use await self.sleep(...)",
    "uuid.uuid1": "is not deterministic; use workflow.uuid4()",
    "uuid.uuid4": "is not deterministic; use workflow.uuid4()",
    "open": "does file I/O; do it in an activity",
    "input": "does I/O",
}


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


def check_source(tree: ast.AST) -> list[Problem]:
    """What in this journey module (its parsed source) would break determinism or do I/O."""
    problems: list[Problem] = []
    aliases = _aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _check_import(alias.name, node.lineno, problems)
        elif isinstance(node, ast.ImportFrom) and node.module:
            _check_import(node.module, node.lineno, problems)
        elif isinstance(node, ast.Call):
            name = _resolved(_dotted(node.func), aliases)
            if name in FORBIDDEN_CALLS:
                problems.append(Problem(node.lineno, f"journey code calls {name}(), which {FORBIDDEN_CALLS[name]}"))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            # Journeys run without the sandbox's per-run module copies: a module's state is
            # shared by every run in the worker, and a replay would see another run's.
            problems.append(Problem(node.lineno, "journey code rebinds a global, which every run in the worker shares; keep state in self.state"))
    return sorted(problems, key=lambda p: p.line)


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local names of imported modules and functions: ``dt`` -> ``datetime``, ``t`` -> ``time.time``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _resolved(name: str, aliases: dict[str, str]) -> str:
    """``dt.datetime.now`` as ``datetime.datetime.now``; names the module does not import stay."""
    head, _, rest = name.partition(".")
    full = aliases.get(head)
    if full is None:
        return name
    full = {"datetime.datetime": "datetime", "datetime.date": "date"}.get(full, full)  # the classes, as FORBIDDEN_CALLS names them
    return f"{full}.{rest}" if rest else full


def sent_templates(tree: ast.AST) -> list[tuple[str, int]]:
    """(template, line) for every ``self.send("literal", ...)`` in the tree."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "send"
            and _dotted(node.func.value) == "self"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return found


WAIT_METHODS = {"wait_for", "wait_for_any", "goal"}


def waited_event_types(tree: ast.AST) -> tuple[set[str], list[tuple[int, str]]]:
    """Event types passed as string literals to wait_for/wait_for_any/goal, and the
    (line, method) of every such call given a computed type instead."""
    literal_types: set[str] = set()
    computed: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WAIT_METHODS or not node.args:
            continue
        literals = _string_literals(node.args[0])
        if literals is None:
            computed.append((node.lineno, node.func.attr))
        else:
            literal_types |= literals
    return literal_types, computed


def _string_literals(node: ast.expr) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        values = [_string_literals(e) for e in node.elts]
        if all(v is not None for v in values):
            return set().union(*[v for v in values if v is not None])
    return None


def _check_import(module: str, line: int, problems: list[Problem]) -> None:
    root = module.split(".")[0]
    if root in FORBIDDEN_IMPORTS:
        problems.append(Problem(line, f"journey code imports {module}, which {FORBIDDEN_IMPORTS[root]}"))
    elif root in PROJECT_ROOTS and not (module + ".").startswith(ALLOWED_PROJECT_PREFIX + "."):
        problems.append(
            Problem(
                line,
                f"journey code imports {module}, which runs outside the workflow sandbox; "
                "a journey may import workflows.* and journeys.contracts.* only",
            )
        )


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""
