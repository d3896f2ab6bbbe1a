"""What the API process holds for its lifetime (created in app.py's lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

from journeys.storage.database import Database
from journeys.dispatch.outbox import Outbox
from journeys.intake.group_commit import GroupCommit
from journeys.storage.settings import Settings
from journeys.templating.catalog import TemplateCatalog
from workflows.registry import Registry


@dataclass
class AppState:
    settings: Settings
    api_key: str
    db: Database
    registry: Registry
    outbox: Outbox
    catalog: TemplateCatalog
    unsubscribe_secret: str
    intake: GroupCommit  # POST /v1/events stores through it (journeys/intake/group_commit.py)
