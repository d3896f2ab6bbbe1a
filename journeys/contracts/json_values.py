"""What any JSON value we accept must be so that Temporal, PostgreSQL and every later
reader can take it: strict JSON, not too deep, and small enough once encoded.

Everything a client sends that ends up in a journey (event properties, profile
attributes and traits) passes here at intake, so what got a 202 can always be handed to
Temporal. Refused, with the path of the bad value, rather than cleaned (README, "The API"):

* a string with a lone surrogate (``"ab\\ud800"``, which JavaScript produces when it cuts a
  string inside an emoji): not Unicode, so not encodable as UTF-8;
* ``NaN``, ``Infinity`` and ``-Infinity``: not JSON at all, though Python reads them;
* nesting deeper than ``MAX_DEPTH``;
* more than ``MAX_ENCODED_BYTES`` once encoded as Temporal encodes it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

# Temporal refuses a payload over 2 MB and warns past 512 KB; a journey's start carries an
# event and the profile, and a long-lived journey carries its inbox too, so each stays
# well under that.
MAX_ENCODED_BYTES = 256 * 1024
MAX_DEPTH = 32

# The same rules as JSON Schema, for the OpenAPI document: text without NUL, and a value
# that is text, a number, true, false, null, or a list or object of such values. (Depth
# and size are stated in the description; JSON Schema cannot count them.)
NO_NUL = "^[^\\x00]*$"
JSON_VALUE_REF = "#/components/schemas/JsonValue"
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": f"Any JSON value; text without NUL characters, at most {MAX_DEPTH} levels deep",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": JSON_VALUE_REF}},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": {"$ref": JSON_VALUE_REF}},
    ],
}
# Fields holding strict JSON objects carry this mark (``json_schema_extra``); the API's
# document (api/openapi_doc.py) puts JSON_OBJECT_SCHEMA in its place, refs and all, which
# pydantic itself would not let through.
STRICT_JSON_MARK: dict[str, Any] = {"x-strict-json": "object"}
JSON_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": NO_NUL},
    "additionalProperties": {"$ref": JSON_VALUE_REF},
}


class NotStrictJson(ValueError):
    """A value we cannot store and hand on; the message names where it is and why."""


def parse(raw: bytes | str) -> Any:
    """JSON text as Python values; NotStrictJson, never another error, for what is not JSON
    or cannot be read (invalid UTF-8, nesting that would exhaust the parser, integers of
    more digits than Python converts)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotStrictJson(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise NotStrictJson("invalid JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # e.g. an integer over 4,300 digits
        raise NotStrictJson(f"invalid JSON: {exc}") from None


def check(value: Any, where: str) -> Any:
    """``value`` itself if it is strict JSON (see the module docstring); NotStrictJson if not."""
    _walk(value, where, 0)
    return value


def encoded_size(model: BaseModel) -> int:
    """The model's size as Temporal's pydantic data converter encodes it."""
    return len(to_json(model))


def check_size(model: BaseModel, what: str, limit: int = MAX_ENCODED_BYTES) -> None:
    size = encoded_size(model)
    if size > limit:
        raise NotStrictJson(f"{what} is {size:,} bytes encoded; at most {limit:,} are accepted")


def _walk(value: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise NotStrictJson(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _text(value, where)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise NotStrictJson(f"{where}: {value!r} is not a JSON number (NaN and Infinity are not JSON)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(str(key), f"{where} (a key)")
            _walk(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _walk(item, f"{where}[{index}]", depth + 1)


def _text(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start : exc.end].encode("unicode_escape").decode()
        raise NotStrictJson(
            f"{where}: a lone surrogate ({bad}) at position {exc.start} is not Unicode; send UTF-8 text"
        ) from None
    if "\x00" in value:
        raise NotStrictJson(f"{where}: contains a NUL character (\\u0000), which databases refuse")
