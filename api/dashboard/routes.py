"""The dashboard's router: every page and form under ``/dashboard``.

Left out of the OpenAPI document (``include_in_schema=False``), on purpose: the document
describes the JSON API that programs call with the bearer key, and the request guard
(api/guard.py) and schemathesis (tests/api/test_openapi_truth.py) read it as such. These
are pages for a person, behind a session cookie and a CSRF token; their contract is the
browser test (tests/api/dashboard/). Not in the document, they are never asked for the
bearer key by the guard, and their forms' size is capped where they are read
(api/dashboard/pages.py, ``read_form``).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.dashboard import customer_pages, dead_letter_pages, journey_pages, login, template_pages

router = APIRouter(include_in_schema=False)
for pages_router in (login.router, journey_pages.router, dead_letter_pages.router, customer_pages.router, template_pages.router):
    router.include_router(pages_router)
