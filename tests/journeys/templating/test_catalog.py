"""Template declarations: each template is transactional, or marketing about a topic."""

import re
from pathlib import Path

import pytest

from journeys.storage.settings import PROJECT_ROOT
from journeys.templating.catalog import TemplateCatalog, TemplateError, TemplateInfo, read_options


def _template(root: Path, name: str, toml: str | None) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "subject.txt").write_text(f"{name} subject")
    if toml is not None:
        (folder / "template.toml").write_text(toml)
    return folder


def _error(tmp_path: Path, toml: str | None) -> str:
    _template(tmp_path, "t", toml)
    with pytest.raises(TemplateError) as info:
        TemplateCatalog(tmp_path).get("t")
    return str(info.value)


def test_transactional_template_has_no_topic(tmp_path: Path) -> None:
    _template(tmp_path, "receipt", 'category = "transactional"\n')
    info = TemplateCatalog(tmp_path).get("receipt")
    assert info == TemplateInfo("receipt", "transactional", None)
    assert not info.is_marketing


def test_marketing_template_carries_its_topic(tmp_path: Path) -> None:
    _template(tmp_path, "promo", 'category = "marketing"\ntopic = "offers"\n')
    info = TemplateCatalog(tmp_path).get("promo")
    assert info == TemplateInfo("promo", "marketing", "offers")
    assert info.is_marketing


def test_missing_declaration_names_the_file_and_shows_what_to_write(tmp_path: Path) -> None:
    message = _error(tmp_path, None)
    assert str(tmp_path / "t" / "template.toml") in message
    assert 'category = "transactional"' in message
    assert 'category = "marketing" with topic = ' in message


def test_marketing_without_topic_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, 'category = "marketing"\n')
    assert "needs topic" in message and "got None" in message


@pytest.mark.parametrize("topic", ["Bad Topic", "all", "transactional", "", "-x", "a" * 51])
def test_marketing_with_invalid_topic_is_refused(tmp_path: Path, topic: str) -> None:
    message = _error(tmp_path, f'category = "marketing"\ntopic = "{topic}"\n')
    assert str(tmp_path / "t" / "template.toml") in message
    assert "needs topic" in message and repr(topic) in message


def test_marketing_with_non_string_topic_is_refused(tmp_path: Path) -> None:
    assert "needs topic" in _error(tmp_path, 'category = "marketing"\ntopic = 3\n')


def test_transactional_with_topic_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, 'category = "transactional"\ntopic = "offers"\n')
    assert "transactional template has no topic" in message and "'offers'" in message


@pytest.mark.parametrize("toml", ['category = "promo"\n', 'topic = "offers"\n', ""])
def test_unknown_or_missing_category_is_refused(tmp_path: Path, toml: str) -> None:
    message = _error(tmp_path, toml)
    assert "category is" in message and "expected" in message


def test_broken_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    message = _error(tmp_path, 'category = "marketing\n')
    assert message.startswith(f"{tmp_path / 't' / 'template.toml'}: ")


@pytest.mark.parametrize("name", ["nope", "", "../t", ".hidden", "_partials"])
def test_unknown_template_lists_the_known_ones(tmp_path: Path, name: str) -> None:
    _template(tmp_path, "b", 'category = "transactional"\n')
    _template(tmp_path, "a", 'category = "transactional"\n')
    with pytest.raises(TemplateError, match=r"unknown template .*\(known: a, b\)"):
        TemplateCatalog(tmp_path).get(name)


def test_folder_without_subject_is_not_a_template(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "template.toml").write_text('category = "transactional"\n')
    catalog = TemplateCatalog(tmp_path)
    assert catalog.names() == []
    with pytest.raises(TemplateError, match=r"known: none"):
        catalog.get("assets")


def test_check_reports_one_problem_per_bad_template(tmp_path: Path) -> None:
    _template(tmp_path, "good", 'category = "transactional"\n')
    _template(tmp_path, "undeclared", None)
    _template(tmp_path, "no_topic", 'category = "marketing"\n')
    problems = TemplateCatalog(tmp_path).check()
    assert len(problems) == 2
    assert any("'undeclared'" in p for p in problems)
    assert any(str(tmp_path / "no_topic" / "template.toml") in p for p in problems)


def test_check_is_empty_when_all_templates_are_declared(tmp_path: Path) -> None:
    _template(tmp_path, "welcome", 'category = "transactional"\n')
    _template(tmp_path, "promo", 'category = "marketing"\ntopic = "offers"\n')
    assert TemplateCatalog(tmp_path).check() == []


def test_topics_are_the_marketing_topics_sorted_once_each(tmp_path: Path) -> None:
    _template(tmp_path, "a", 'category = "marketing"\ntopic = "product"\n')
    _template(tmp_path, "b", 'category = "marketing"\ntopic = "offers"\n')
    _template(tmp_path, "c", 'category = "marketing"\ntopic = "product"\n')
    _template(tmp_path, "d", 'category = "transactional"\n')
    _template(tmp_path, "e", 'category = "marketing"\ntopic = "Bad Topic"\n')
    assert TemplateCatalog(tmp_path).topics() == ["offers", "product"]


def test_shipped_templates_are_all_declared() -> None:
    catalog = TemplateCatalog(PROJECT_ROOT / "templates")
    assert catalog.check() == []
    assert {"welcome", "getting_started", "cart_reminder"} <= set(catalog.names())
    assert catalog.get("welcome").category == "transactional"
    assert catalog.get("getting_started").is_marketing
    assert catalog.get("cart_reminder").is_marketing


def test_tracking_switches_default_to_the_category_and_may_be_set(tmp_path: Path) -> None:
    _template(tmp_path, "plain", 'category = "marketing"\ntopic = "offers"\n')
    _template(tmp_path, "quiet", 'category = "marketing"\ntopic = "offers"\ntrack_clicks = false\n')
    _template(tmp_path, "reset", 'category = "transactional"\ntrack_opens = true\ntrack_clicks = false\n')
    catalog = TemplateCatalog(tmp_path)
    assert (catalog.get("plain").track_opens, catalog.get("plain").track_clicks) == (None, None)
    assert (catalog.get("quiet").track_opens, catalog.get("quiet").track_clicks) == (None, False)
    assert (catalog.get("reset").track_opens, catalog.get("reset").track_clicks) == (True, False)


@pytest.mark.parametrize("value", ['"no"', "0", "1", '"false"', "[]"])
def test_a_tracking_switch_that_is_not_a_boolean_is_refused(tmp_path: Path, value: str) -> None:
    message = _error(tmp_path, f'category = "marketing"\ntopic = "offers"\ntrack_clicks = {value}\n')
    assert "track_clicks must be true or false" in message and "template.toml" in message


def test_strict_and_locale_are_read_with_the_declaration(tmp_path: Path) -> None:
    _template(tmp_path, "receipt", 'category = "transactional"\nstrict = true\nlocale = "pt_BR"\n')
    info = TemplateCatalog(tmp_path).get("receipt")
    assert (info.strict, info.locale) == (True, "pt-BR")
    assert TemplateInfo("r", "transactional", None) == TemplateInfo("r", "transactional", None, strict=False, locale="en")


@pytest.mark.parametrize(("toml", "message"), [
    ('locale = "French"', "locale must be a language tag"),
    ('locale = 3', "locale must be a language tag"),
    ("sample = 1", r"\[sample\] holds only"),
    ("[sample.extra]\nx = 1", r"\[sample\] holds only"),
    ("[sample]\ncustomer = 1", r"\[sample\] holds only"),
])
def test_bad_rendering_options_are_refused_naming_the_file(tmp_path: Path, toml: str, message: str) -> None:
    text = _error(tmp_path, f'category = "transactional"\n{toml}\n')
    assert re.search(message, text) and "template.toml" in text


def test_the_sample_is_read_as_written(tmp_path: Path) -> None:
    folder = _template(tmp_path, "t", 'category = "transactional"\n[sample.customer]\nemail = "a@x.example"\n'
                                      '[sample.context]\norder = { id = "7" }\n')
    assert read_options(folder).sample == {"customer": {"email": "a@x.example"}, "context": {"order": {"id": "7"}}}
    assert read_options(tmp_path / "missing").sample == {}, "no template.toml: defaults (the catalog refuses it elsewhere)"
