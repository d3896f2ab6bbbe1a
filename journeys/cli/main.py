"""The ``journeys`` command: run the stack, or one part of it, and operator chores."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from journeys.cli import dead_letters, dkim, explain, templates
from journeys.storage import logs
from journeys.storage.settings import get_settings

def _logging(verbose: bool = False) -> None:
    from journeys.telemetry import log_context

    # JSON lines carry the ids the work binds (journeys/telemetry/log_context.py).
    logs.configure(verbose, log_format=get_settings().log_format, context=log_context.current)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """asyncio.run, on uvloop where it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def cmd_dev(args: argparse.Namespace) -> int:
    from journeys.devstack.stack import run_dev_stack

    return run_dev_stack(get_settings(), ui=not args.headless)


def cmd_worker(args: argparse.Namespace) -> int:
    from worker import run_worker

    _logging(args.verbose)
    _run(run_worker(get_settings()))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    _logging(args.verbose)
    settings = get_settings()
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    # uvicorn's own loggers propagate to the root handler configured above (and its filter).
    log_config = {"version": 1, "disable_existing_loggers": False, "loggers": {"uvicorn": {"level": "INFO"}, "uvicorn.access": {"level": "INFO"}}}
    uvicorn.run(create_app(settings), host=host, port=port, log_config=log_config, access_log=args.access_log)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from journeys.storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    print(f"database is up to date: {_safe(settings.resolved_database_url)}")
    return 0


def cmd_makemigration(args: argparse.Namespace) -> int:
    from journeys.storage.migrate import make_revision

    make_revision(get_settings().resolved_database_url, args.message)
    print("written to journeys/storage/migrations/versions/: rename it NNNN_<what>.py, check it, commit it")
    return 0


def cmd_mailcatcher(args: argparse.Namespace) -> int:
    import signal
    import threading

    from journeys.devstack.mail_catcher import MailCatcher
    from journeys.telemetry.heap import settle_heap

    _logging(args.verbose)
    settings = get_settings()
    port = args.port or settings.smtp_port
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with MailCatcher(settings.mail_dir, host="127.0.0.1", port=port):
        print(f"mail catcher on 127.0.0.1:{port}, saving to {settings.mail_dir}/", flush=True)
        settle_heap()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="journeys",
        description="Journeys: event-driven customer journeys on Temporal. "
        "Settings come from JOURNEYS_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dev = sub.add_parser(
        "dev",
        help="run everything on this machine: Temporal dev server, worker, API, mail catcher",
        description="Start a Temporal dev server (state in $JOURNEYS_HOME), the worker, the API on "
        "127.0.0.1:8000 and a mail catcher on 127.0.0.1:1025. Ctrl-C stops them all; the next "
        "run finds the state of this one.",
    )
    dev.add_argument("--headless", action="store_true", help="no Temporal web UI")
    dev.set_defaults(func=cmd_dev)

    worker = sub.add_parser("worker", help="run a Temporal worker for every journey")
    worker.add_argument("-v", "--verbose", action="store_true")
    worker.set_defaults(func=cmd_worker)

    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", help="interface to bind (default: JOURNEYS_API_HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default: JOURNEYS_API_PORT, 8000)")
    api.add_argument("--access-log", action="store_true", help="log every request")
    api.add_argument("-v", "--verbose", action="store_true")
    api.set_defaults(func=cmd_api)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    makemigration = sub.add_parser(
        "makemigration",
        help="write a migration from the changes to journeys/storage/tables.py (for developers)",
        description="Compare journeys/storage/tables.py with the database (migrated to head first) and write "
        "an Alembic migration for the difference.",
    )
    makemigration.add_argument("message", help='what changed, e.g. "add subscriptions"')
    makemigration.set_defaults(func=cmd_makemigration)

    dead_letters.add_parser(sub)
    explain.add_parser(sub)
    dkim.add_parser(sub)
    templates.add_parser(sub)

    catcher = sub.add_parser("mailcatcher", help="run the development SMTP mail catcher")
    catcher.add_argument("--port", type=int, help="port (default: JOURNEYS_SMTP_PORT, 1025)")
    catcher.add_argument("-v", "--verbose", action="store_true")
    catcher.set_defaults(func=cmd_mailcatcher)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a clear message instead of a traceback for what users can fix
        from pydantic import ValidationError

        from journeys.providers.base import MissingSetting
        from journeys.providers.webhook_settings import InvalidSetting
        from journeys.storage.temporal import NamespaceNotReady
        from workflows.registry import JourneyDefinitionError

        if isinstance(exc, ValidationError):
            print(f"journeys: invalid settings:\n{exc}", file=sys.stderr)
            code = 2
        elif isinstance(exc, NamespaceNotReady):
            print(f"journeys: refusing to start: {exc}", file=sys.stderr)
            code = 2
        elif isinstance(exc, InvalidSetting):
            print(f"journeys: refusing to start, a setting is invalid:\n{exc}", file=sys.stderr)
            code = 2
        elif isinstance(exc, MissingSetting):
            print(f"journeys: refusing to start, a setting is missing: {exc}", file=sys.stderr)
            code = 2
        elif isinstance(exc, JourneyDefinitionError):
            print(f"journeys: refusing to start, journeys or templates need fixing:\n{exc}", file=sys.stderr)
            code = 2
        else:
            raise
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal SDK's runtime can abort at interpreter exit (sdk-python#300).
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
