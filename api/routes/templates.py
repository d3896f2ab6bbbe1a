"""Seeing an email before customers do: ``POST /v1/templates/{name}/preview`` and
``POST /v1/templates/{name}/test-send`` (journeys/operations/template_preview.py and
template_test_send.py say what each renders, sends and records)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from api.answers import answers
from api.errors import RETRY_AFTER_SECONDS, invalid
from api.deps import StateDep
from api.state import AppState
from journeys.contracts import json_values
from journeys.contracts.customers import LOCALE_PATTERN
from journeys.contracts.events import ID_PATTERN
from journeys.operations.template_preview import Previewer, RenderFailed, TemplatePreview, UnknownCustomer, UnknownTemplate
from journeys.operations.template_test_send import (
    EspRefused,
    EspUnavailable,
    IdConflict,
    Suppressed,
    TemplateTestSend,
    send_test,
)

router = APIRouter(tags=["templates"])

# The template names of this installation are the schema's enum (api/openapi_doc.py).
TemplateName = Annotated[str, Path(min_length=1, max_length=100, description="a folder under templates/")]


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=ID_PATTERN,
        description="render with this customer's profile; without, the template's sample customer",
    )
    context: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra=json_values.STRICT_JSON_MARK,
        description="template variables, as a journey's send(context=...); its top-level keys replace the sample's",
    )
    locale: str | None = Field(
        default=None, max_length=35, pattern=LOCALE_PATTERN,
        description="render as for a customer of this locale (picks the variant, e.g. fr); default the customer's",
    )

    @field_validator("context")
    @classmethod
    def _strict_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_values.check(value, "context")

    @model_validator(mode="after")
    def _not_too_large(self) -> "PreviewIn":
        json_values.check_size(self, "the context")
        return self


class TemplateTestSendIn(PreviewIn):
    id: str = Field(min_length=1, max_length=100, pattern=ID_PATTERN, description="your idempotency key for this test send")
    to: EmailStr = Field(description="where the test goes (not the customer's own address, unless you say so)")


def previewer(request: Request, state: AppState) -> Previewer:
    """One per app: its renderer keeps compiled templates from one preview to the next."""
    found = getattr(request.app.state, "template_previewer", None)
    if not isinstance(found, Previewer):
        found = Previewer(state.settings, state.catalog)
        request.app.state.template_previewer = found
    return found


def _unprocessable(exc: RenderFailed) -> Exception:
    return invalid((("path", "name"), str(exc)))


@router.post(
    "/v1/templates/{name}/preview",
    response_model=TemplatePreview,
    summary="Render a template as a send would, for a customer or its sample; nothing is sent",
    responses=answers(404),
)
async def preview_template(name: TemplateName, request: Request, state: StateDep, body: PreviewIn | None = None) -> TemplatePreview:
    """Subject, preheader, HTML, text and headers (marketing: List-Unsubscribe,
    List-Unsubscribe-Post, List-Id, and the footer in both parts), exactly as the delivery
    activity renders them, except that links are not rewritten for tracking and there is
    no open pixel (a preview is no message). A strict template's missing variable is a
    422 naming the template and the variable."""
    body = body or PreviewIn()
    try:
        rendered = await previewer(request, state).preview(
            state.db, name, customer_id=body.customer_id, context=body.context, locale=body.locale
        )
    except (UnknownTemplate, UnknownCustomer) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except RenderFailed as exc:
        raise _unprocessable(exc) from None
    return rendered.preview


@router.post(
    "/v1/templates/{name}/test-send",
    response_model=TemplateTestSend,
    status_code=status.HTTP_201_CREATED,
    summary="Send a template, rendered as its preview, to an address of your choosing, as a test",
    responses={
        200: {"model": TemplateTestSend, "description": "the same id was sent before: its outcome, and nothing more is sent"},
        **answers(404, 409, 502),
    },
)
async def test_send_template(
    name: TemplateName, body: TemplateTestSendIn, request: Request, state: StateDep, response: Response
) -> TemplateTestSend:
    """Through the configured ESP, from this API process (not a journey): the answer is
    what the ESP said. Suppression applies (409, nothing sent); subscriptions, quiet hours
    and frequency caps do not. Marked as a test in the message log (``test``), never
    counted in analytics or caps, not tracked. ``id`` is your idempotency key: the same id
    again answers 200 with the first outcome and sends nothing. An ESP that refuses, or
    may have taken it without answering, is a 502; one that is away (nothing sent) a 503:
    send again with the same id."""
    try:
        result = await send_test(
            state.db, previewer(request, state), state.settings, request_id=body.id, to=str(body.to), template=name,
            customer_id=body.customer_id, context=body.context, locale=body.locale,
        )
    except (UnknownTemplate, UnknownCustomer) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except RenderFailed as exc:
        raise _unprocessable(exc) from None
    except (IdConflict, Suppressed) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except EspRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_502_BAD_GATEWAY)  # type: ignore[return-value]
    except EspUnavailable as exc:
        wait = RETRY_AFTER_SECONDS if exc.retry_after is None else max(1, math.ceil(exc.retry_after))
        return JSONResponse(  # type: ignore[return-value]
            {"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(wait)}
        )
    if result.duplicate:
        response.status_code = status.HTTP_200_OK
    return result
