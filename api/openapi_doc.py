"""The OpenAPI document (``/openapi.json``), made to say exactly what the API takes.

FastAPI derives most of it from the routes and models. Added here, once the document is
built, is what only this installation knows or what pydantic cannot say:

- the Segment routes' write-key scheme, next to FastAPI's bearer scheme;
- the shared schemas routes refer to by ``$ref`` (the error shapes of api/answers.py, and
  ``JsonValue``, the strict JSON of journeys/contracts/json_values.py);
- the template names a one-off send may name, the topics a subscription change may name
  (both from the templates folder, as the routes check them), and the IANA time zones.

schemathesis checks the result against the live API (tests/api/test_openapi_truth.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from api.answers import COMPONENTS as REF
from api.answers import ERROR_MODELS
from api.segment_docs import SECURITY_SCHEMES as SEGMENT_SECURITY_SCHEMES
from journeys.contracts.customers import time_zones
from journeys.contracts.json_values import JSON_OBJECT_SCHEMA, JSON_VALUE_SCHEMA, STRICT_JSON_MARK

MARK = next(iter(STRICT_JSON_MARK))
from journeys.templating.catalog import TemplateCatalog


def install(app: FastAPI, catalog: TemplateCatalog) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _complete(generate(), catalog)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(document: dict[str, Any], catalog: TemplateCatalog) -> dict[str, Any]:
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SEGMENT_SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    _, shared = models_json_schema([(model, "validation") for model in ERROR_MODELS], ref_template=REF + "{model}")
    schemas.update(shared.get("$defs", {}))
    schemas["JsonValue"] = JSON_VALUE_SCHEMA
    _strict_json(document)
    # FastAPI's own 422 model, where a route did not name its 422: the API's one shape.
    _replace_refs(document.get("paths", {}), REF + "HTTPValidationError", REF + "InvalidRequest")
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_own, None)
    _narrow(schemas, "OneOffMessageIn", "template", {"enum": catalog.names()})
    topics = catalog.topics()
    _narrow(
        schemas,
        "SubscriptionsIn",
        "topics",
        {"properties": {topic: {"type": "boolean"} for topic in topics}, "additionalProperties": False},
    )
    _narrow(schemas, "CustomerIn", "timezone", {"enum": sorted(time_zones())})
    _template_names(document, catalog.names())
    return document


def _template_names(document: dict[str, Any], names: list[str]) -> None:
    """The ``{name}`` of the template routes (api/routes/templates.py): this installation's templates."""
    for template, operations in document.get("paths", {}).items():
        if template.startswith("/v1/templates/{name}"):
            for operation in operations.values():
                for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                    if parameter.get("in") == "path" and parameter.get("name") == "name":
                        parameter.setdefault("schema", {})["enum"] = names


def _strict_json(node: Any) -> None:
    """Each marked field (json_values.STRICT_JSON_MARK) becomes JSON_OBJECT_SCHEMA."""
    if isinstance(node, dict):
        if node.pop(MARK, None) is not None:
            node.update(JSON_OBJECT_SCHEMA)
        for value in node.values():
            _strict_json(value)
    elif isinstance(node, list):
        for value in node:
            _strict_json(value)


def _replace_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == old:
            node["$ref"] = new
        for value in node.values():
            _replace_refs(value, old, new)
    elif isinstance(node, list):
        for value in node:
            _replace_refs(value, old, new)


def _narrow(schemas: dict[str, Any], model: str, field: str, constraint: dict[str, Any]) -> None:
    """Add what the route checks (not pydantic) to one field of one model's schema."""
    prop = schemas.get(model, {}).get("properties", {}).get(field)
    if prop is not None:
        prop.update(constraint)
