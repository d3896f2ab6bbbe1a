"""The layout a newcomer relies on: small files, the README's map true, tests that mirror
the tree, and the worker standing below the entry points that start it.

The import layers themselves are import-linter's to check (`make lint`); worker.py is a
module, not a package, so import-linter does not read its imports: this file does.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = ("api", "activities", "workflows", "journeys", "tests", "bench", "chaos")
MAX_LINES = 400


def source_files() -> list[Path]:
    files = [ROOT / "worker.py"]
    for root in SOURCE_ROOTS:
        files += sorted((ROOT / root).rglob("*.py"))
    return files


def test_no_source_file_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in source_files()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these (over {MAX_LINES} lines): {long}"


def readme_paths() -> list[str]:
    """Every path of the project the README's map ("Where an event goes" to "The API",
    the Architecture table included) names in backticks; ``<esp>`` stands for any ESP."""
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index("## Where an event goes"), readme.index("## The API")
    roots = "|".join(re.escape(r) for r in (*SOURCE_ROOTS, "templates", "deploy"))
    found = re.findall(rf"`((?:{roots})/[\w./<>*-]*|worker\.py)`", readme[start:end])
    return sorted({path.replace("<esp>", "*") for path in found})


@pytest.mark.parametrize("path", readme_paths())
def test_every_path_the_readme_names_exists(path: str) -> None:
    if "*" in path:
        assert list(ROOT.glob(path)), f"README names {path}, which matches nothing"
    else:
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"


def test_the_readme_table_follows_an_event_through_existing_files() -> None:
    assert len(readme_paths()) > 25, "the README's map has gone missing"


def imported_modules(path: Path) -> set[str]:
    """Every module the file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_worker_imports_nothing_above_it() -> None:
    above = ("api", "journeys.cli", "journeys.testkit", "tests", "bench")
    wrong = sorted(m for m in imported_modules(ROOT / "worker.py") if any(m == a or m.startswith(a + ".") for a in above))
    assert not wrong, f"worker.py imports entry points that stand above it: {wrong}"


def project_packages() -> list[str]:
    packages = [p.name for p in sorted((ROOT / "journeys").iterdir()) if (p / "__init__.py").is_file()]
    return [f"journeys/{name}" for name in packages] + ["api", "workflows", "activities"]


@pytest.mark.parametrize("package", project_packages())
def test_every_package_has_tests_of_its_own(package: str) -> None:
    tests = ROOT / "tests" / package
    assert tests.is_dir() and list(tests.rglob("test_*.py")), f"{package}/ has no tests under tests/{package}/"


def test_no_module_of_the_project_is_installed_outside_its_one_package() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {pattern.rstrip("*") for pattern in project["packages"]["find"]["include"]}
    assert roots == {"journeys", "api", "workflows", "activities"}, roots
    assert project.get("py-modules") == ["worker"]
