"""The whole stack for end-to-end tests: worker, API served by uvicorn, SMTP mail catcher."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.providers.smtp.sender import SmtpSender
from api.app import create_app
from journeys.storage.database import Database
from journeys.devstack.mail_catcher import CaughtMail, MailCatcher, read_mailbox
from journeys.storage.migrate import upgrade
from journeys.storage.settings import Settings
from tests.conftest import free_port, wait_until
from worker import build_worker

API_KEY = "e2e-key-0123456789"


@dataclass
class Stack:
    base_url: str
    client: Client
    mail_dir: Path
    db: Database

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)

    async def wait_for_mail(self, count: int, deadline: float = 10.0) -> list[CaughtMail]:
        """The mailbox once it holds ``count`` messages (fails after ``deadline`` seconds)."""
        end = time.monotonic() + deadline
        while True:
            mails = read_mailbox(self.mail_dir)
            if len(mails) >= count:
                return mails
            assert time.monotonic() < end, f"expected {count} emails within {deadline}s, got {len(mails)}"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def live_stack(
    dev_server: WorkflowEnvironment, tmp_path: Path, **settings_overrides: object
) -> AsyncIterator[Stack]:
    """Worker, API on a loopback port and the SMTP mail catcher, on ``dev_server``;
    ``settings_overrides`` e.g. ``journey_packages=...``, ``templates_dir=...``."""
    database_url = f"sqlite:///{tmp_path / 'journeys.db'}"
    upgrade(database_url)
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=free_port()) as catcher:
        settings = Settings(
            home=tmp_path,
            public_url=f"http://127.0.0.1:{port}",
            database_url=database_url,
            api_key=API_KEY,
            smtp_port=catcher.port,
            temporal_task_queue=f"e2e-{uuid.uuid4().hex[:8]}",
            from_email="Journeys <hello@journeys.example>",
            **settings_overrides,  # type: ignore[arg-type]
        )
        db = Database(database_url)
        worker = build_worker(dev_server.client, settings=settings, db=db, sender=SmtpSender.from_settings(settings))
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, temporal_client=dev_server.client), host="127.0.0.1", port=port, log_level="warning")
        )
        async with worker:
            serving = asyncio.create_task(server.serve())

            async def up_or_ended() -> bool:
                return server.started or serving.done()

            try:
                await wait_until(up_or_ended, what="the API serving")
            except AssertionError:
                server.should_exit = True
                raise
            if not server.started:
                serving.result()  # raises what it ended with
                raise AssertionError("API failed to start")
            try:
                yield Stack(f"http://127.0.0.1:{port}", dev_server.client, catcher.directory, db)
            finally:
                server.should_exit = True
                await serving
                # The dev server outlives this test: end its journeys, or a later test using
                # the same customer id would signal a run nobody works on.
                query = f'TaskQueue = "{settings.temporal_task_queue}" AND ExecutionStatus = "Running"'
                async for execution in dev_server.client.list_workflows(query):
                    await dev_server.client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test finished")
        await db.dispose()


