"""``journeys templates check``: render every template in every locale it has with the
sample context of its template.toml (journeys/templating/checks.py), marketing ones with
the unsubscribe footer as delivery adds it; one line per template and locale, exit 1 if
any fails. `make test` runs it on the shipped templates (tests/journeys/templating/).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from journeys.templating.catalog import TemplateInfo
    from journeys.templating.checks import CheckResult
    from journeys.templating.renderer import RenderedEmail


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "templates",
        help="check the email templates: every template, every locale, rendered with its sample",
        description="Work with the email templates in templates/ (README, \"Templates\").",
    )
    commands = parser.add_subparsers(dest="templates_command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="render every template in every locale with its sample context; exit 1 on any error",
        description="Render each template in templates/ (or --templates-dir) in each locale it has "
        "(subject.fr.txt, body.fr.html, ...) with the [sample.customer] and [sample.context] tables of "
        "its template.toml, as a send would: layout, partials, MJML, CSS inlining, the text part and, for "
        "marketing, the unsubscribe footer. Prints one line per template and locale, ok or the error "
        "(a strict template names the missing variable). Exits 1 if any failed, else 0.",
        epilog="example: journeys templates check --templates-dir ./templates",
    )
    check.add_argument(
        "--templates-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the templates folder (default: JOURNEYS_TEMPLATES_DIR, else templates/ of the project)",
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    # Imported when the command runs, not for `journeys --help` and the other commands.
    from journeys.consent.unsubscribe_footer import MarketingFooter
    from journeys.storage.settings import get_settings
    from journeys.templating.checks import check_templates
    from journeys.templating.renderer import TemplateRenderer

    settings = get_settings()
    templates_dir: Path = args.templates_dir or settings.templates_dir
    if not templates_dir.is_dir():
        print(f"error  no templates folder at {templates_dir}")
        return 1
    # The footer as delivery adds it, signed with a throwaway secret: a check must not
    # create the development secret file, nor need production's.
    footer = MarketingFooter(
        settings.model_copy(update={"templates_dir": templates_dir, "unsubscribe_secret": "templates-check"}),
        TemplateRenderer(templates_dir),
    )

    def extras(info: TemplateInfo) -> dict[str, str]:
        return footer.context(footer.link("sample", info.topic or "", "sample")) if info.is_marketing else {}

    def finish(email: RenderedEmail, info: TemplateInfo) -> RenderedEmail:
        if not info.is_marketing or not info.topic:
            return email
        return footer.apply(email, footer.link("sample", info.topic, "sample"), info.topic, info.name)

    results = check_templates(templates_dir, extras=extras, finish=finish)
    print(report(results, templates_dir))
    return 0 if results and all(r.ok for r in results) else 1


def report(results: list[CheckResult], templates_dir: Path) -> str:
    if not results:
        return f"error  no templates in {templates_dir} (a template is a folder with a subject.txt)"
    name_width = max(len(r.template) for r in results)
    locale_width = max(len(r.locale) for r in results)
    lines = []
    for r in results:
        head = f"{'ok' if r.ok else 'error':<6} {r.template:<{name_width}}  {r.locale:<{locale_width}}"
        detail = f'"{r.email.subject}"' if r.ok and r.email is not None else r.error or ""
        lines.append(f"{head}  {detail}".rstrip())
    failed = sum(not r.ok for r in results)
    templates = len({r.template for r in results})
    summary = f"{templates} templates, {len(results)} renders: " + (f"{failed} failed" if failed else "all ok")
    return "\n".join([*lines, "", summary])
