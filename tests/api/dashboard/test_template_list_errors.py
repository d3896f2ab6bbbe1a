"""One template that does not render must not take the dashboard's Templates list down: its
row says why, the others list as usual, and its own page says "It does not render" (422)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.journeys.templating.support import shipped_copy, write


@pytest.fixture
def dashboard_settings(tmp_path: Path) -> dict[str, Any]:
    templates = shipped_copy(tmp_path)
    write(templates, "order_placed", {"subject.txt": "Order", "body.html": '<p>{{ "2024-06-03" | date("d MMM, HH:mm") }}</p>'})
    write(templates, "looping", {"subject.txt": "Loop", "body.html": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"})
    return {"templates_dir": templates}


async def test_the_list_shows_each_broken_template_with_its_error(logged_in: httpx.AsyncClient) -> None:
    answer = await logged_in.get("/dashboard/templates")
    assert answer.status_code == 200, answer.text[:500]
    rows = re.findall(r'<tr data-template="([^"]+)">', answer.text)
    assert rows == ["cart_reminder", "getting_started", "looping", "order_placed", "receipt", "welcome"]
    assert "Welcome to Journeys, Ann!" in answer.text
    assert answer.text.count('<span class="error">does not render</span>') == 2
    assert "RecursionError: maximum recursion depth exceeded" in answer.text
    assert "the pattern &#39;d MMM, HH:mm&#39; shows a time or a zone" in answer.text

    page = await logged_in.get("/dashboard/templates/order_placed")
    assert page.status_code == 422 and "It does not render: template &#39;order_placed&#39; failed to render" in page.text
