"""Template folders written for a test: ``write(root, "welcome", {"subject.txt": ...})``."""

from __future__ import annotations

import shutil
from pathlib import Path

from journeys.storage.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "templates"


def write(root: Path, name: str, files: dict[str, str], toml: str | None = 'category = "transactional"\n') -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if toml is not None:
        (folder / "template.toml").write_text(toml)
    for file_name, text in files.items():
        path = folder / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def shipped_copy(tmp_path: Path) -> Path:
    """The shipped templates (layout, partials, footer included), to add one beside them."""
    root = tmp_path / "templates"
    shutil.copytree(SHIPPED, root)
    return root
