"""`journeys templates check`: every template, every locale, rendered with its sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from journeys.templating.checks import check_templates, sample_context
from journeys.templating.catalog import TemplateOptions
from tests.journeys.templating.support import SHIPPED, shipped_copy, write


def journeys(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "journeys"
    return subprocess.run(
        [str(command), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "JOURNEYS_HOME": str(tmp_path / "home"), **env},
    )


def test_the_shipped_templates_pass_in_every_locale(tmp_path: Path) -> None:
    result = journeys(tmp_path, "templates", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for template, locale in [("cart_reminder", "en (default)"), ("getting_started", "en (default)"), ("receipt", "en (default)"),
                             ("welcome", "en (default)"), ("welcome", "fr")]:
        assert any(line.split()[:3] == ["ok", template, locale.split()[0]] for line in lines), (template, locale, lines)
    assert '"Bienvenue sur Journeys, Ann !"' in result.stdout
    assert lines[-1].endswith("renders: all ok")
    assert not (tmp_path / "home" / "unsubscribe_secret").exists(), "a check leaves no secret behind"


def test_a_broken_template_fails_the_check_with_its_reason(tmp_path: Path) -> None:
    templates = shipped_copy(tmp_path)
    (templates / "welcome" / "body.fr.html").write_text('{% extends "_layouts/base.html" %}{% block content %}{{ oops( }}{% endblock %}')
    write(templates, "invoice", {"subject.txt": "Invoice {{ invoice.id }}", "body.html": "{{ invoice.total }}"},
          toml='category = "transactional"\nstrict = true\n[sample.context.invoice]\nid = "1"\n')
    write(templates, "undeclared", {"subject.txt": "x", "body.html": "x"}, toml=None)
    result = journeys(tmp_path, "templates", "check", "--templates-dir", str(templates))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "ok     welcome          en (default)" in out
    assert "error  welcome          fr" in out and "body.fr.html:1: unexpected" in out
    assert "error  invoice          en (default)  template 'invoice' is strict and 'invoice.total' is missing (invoice/body.html line 1)" in out
    assert "error  undeclared       -             template 'undeclared' declares no category" in out
    assert out.splitlines()[-1] == "6 templates, 7 renders: 3 failed"


def test_the_folder_comes_from_settings_by_default(tmp_path: Path) -> None:
    templates = tmp_path / "mine"
    write(templates, "solo", {"subject.txt": "Solo", "body.html": "<p>x</p>"})
    result = journeys(tmp_path, "templates", "check", JOURNEYS_TEMPLATES_DIR=str(templates))
    assert result.returncode == 0 and result.stdout.splitlines()[0].split() == ["ok", "solo", "en", "(default)", '"Solo"']
    empty = journeys(tmp_path, "templates", "check", "--templates-dir", str(tmp_path / "nowhere"))
    assert empty.returncode == 1 and "no templates folder" in empty.stdout


def test_help_says_what_it_does(tmp_path: Path) -> None:
    result = journeys(tmp_path, "templates", "check", "--help")
    assert result.returncode == 0
    assert "--templates-dir DIR" in result.stdout and "Exits 1 if any failed" in result.stdout
    assert "check" in journeys(tmp_path, "templates", "--help").stdout


def test_marketing_templates_are_checked_with_the_footer_delivery_adds(tmp_path: Path) -> None:
    templates = shipped_copy(tmp_path)
    (templates / "_footer" / "body.html").write_text("<p>No link here</p>")
    result = journeys(tmp_path, "templates", "check", "--templates-dir", str(templates))
    assert result.returncode == 1
    assert "error  cart_reminder" in result.stdout and "must show {{ unsubscribe_url }}" in result.stdout
    assert "ok     welcome" in result.stdout, "transactional mail has no footer to break"


def test_the_sample_customer_is_complete_and_in_the_variants_locale() -> None:
    options = TemplateOptions(sample={"customer": {"attributes": {"first_name": "Ann"}}, "context": {"signup": {"plan": "pro"}}})
    default, french = sample_context("welcome", options, None), sample_context("welcome", options, "fr")
    assert default["customer"] == {"id": "sample-welcome", "email": "sample@example.com", "timezone": "UTC", "locale": "en",
                                   "attributes": {"first_name": "Ann"}}
    assert french["customer"]["locale"] == "fr" and french["signup"] == {"plan": "pro"}
    french["signup"]["plan"] = "changed"
    assert options.sample["context"]["signup"]["plan"] == "pro", "each render gets its own copy"


def test_check_templates_in_process_matches_the_command() -> None:
    results = check_templates(SHIPPED)
    assert [(r.template, r.locale, r.ok) for r in results] == [
        ("cart_reminder", "en (default)", True), ("getting_started", "en (default)", True),
        ("receipt", "en (default)", True), ("welcome", "en (default)", True), ("welcome", "fr", True),
    ]


def test_a_template_that_raises_anything_is_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    write(templates, "order", {"subject.txt": "Order", "body.html": '<p>{{ "2024-06-03" | date("d MMM, HH:mm") }}</p>'})
    write(templates, "loop", {"subject.txt": "Loop", "body.html": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"})
    write(templates, "zone", {"subject.txt": "Zone", "body.html": '<p>{{ "2024-06-03T10:00:00Z" | datetime("HH:mm") }}</p>'},
          toml='category = "transactional"\n[sample.customer]\ntimezone = "Europe"\n')
    result = journeys(tmp_path, "templates", "check", "--templates-dir", str(templates))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert "error  loop   en (default)  template 'loop' failed to render: RecursionError: maximum recursion depth" in result.stdout
    assert ("error  order  en (default)  template 'order' failed to render: date: the pattern 'd MMM, HH:mm' shows a time "
            "or a zone, and '2024-06-03' is a day without a time (order/body.html line 1)") in result.stdout
    assert 'ok     zone   en (default)  "Zone"' in result.stdout, "a zone that is no zone is UTC"
    assert result.stdout.splitlines()[-1] == "3 templates, 3 renders: 2 failed"
