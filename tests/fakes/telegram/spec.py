"""The Bot API 10.0 method table, for checking requests the way the server would.

The machine-readable spec lives next to the repository (../shared/telegram-bot-api-spec).
Without it, parameter validation is skipped and values are decoded by a small built-in
list of string parameters; everything else about the fake keeps working.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SPEC_PATH",
    "Field",
    "Spec",
    "UploadedFile",
    "canonical_method",
    "decode_value",
    "load_spec",
    "validate",
]

SPEC_PATH = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "telegram-bot-api-spec"
    / "api-botapi-10.0.json"
)

# Used for decoding form values only when the spec file is absent.
_FALLBACK_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "data",
        "title",
        "description",
    }
)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter of a method: its name, the spec's type names and whether it is required."""

    name: str
    types: tuple[str, ...]
    required: bool

    @property
    def string_only(self) -> bool:
        return self.types == ("String",)


@dataclass(frozen=True)
class Spec:
    """Methods by canonical name, each a mapping of parameter name to Field."""

    version: str
    methods: Mapping[str, Mapping[str, Field]]
    by_lower: Mapping[str, str]


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> Spec | None:
    """Load the spec, or None when the file is not there."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    methods: dict[str, dict[str, Field]] = {}
    for name, method in raw["methods"].items():
        methods[name] = {
            f["name"]: Field(f["name"], tuple(f["types"]), bool(f["required"]))
            for f in method.get("fields", [])
        }
    return Spec(
        version=str(raw.get("version", "")),
        methods=methods,
        by_lower={name.lower(): name for name in methods},
    )


def canonical_method(method: str, spec: Spec | None = None) -> str | None:
    """The spec's spelling of a method (the server ignores case), or None if unknown.

    Without a spec every method name is accepted as given.
    """
    spec = spec if spec is not None else load_spec()
    if spec is None:
        return method
    return spec.by_lower.get(method.lower())


def _matches(value: Any, type_name: str) -> bool:
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "Boolean":
        return isinstance(value, bool)
    if type_name == "String":
        return isinstance(value, str)
    if type_name == "InputFile":
        return isinstance(value, UploadedFile | str)
    if type_name.startswith("Array of "):
        return isinstance(value, list)
    # Every other type name is a JSON object (InlineKeyboardMarkup, ReplyParameters, ...).
    return isinstance(value, dict)


def decode_value(method: str, name: str, raw: str, spec: Spec | None = None) -> Any:
    """Decode one form value the way the server does: JSON unless the parameter is a String.

    A parameter that may be Integer or String (chat_id) becomes an int when it is one.
    """
    spec = spec if spec is not None else load_spec()
    if spec is None:
        if name in _FALLBACK_STRING_PARAMS:
            return raw
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    field = spec.methods.get(method, {}).get(name)
    if field is None:
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if field.string_only:
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if any(_matches(value, t) for t in field.types if t != "String"):
        return value
    return raw


def validate(method: str, params: Mapping[str, Any], spec: Spec | None = None) -> list[str]:
    """Problems with a call: unknown method or parameter, missing required one, wrong type."""
    spec = spec if spec is not None else load_spec()
    if spec is None:
        return []
    canonical = spec.by_lower.get(method.lower())
    if canonical is None:
        return [f"unknown method {method!r}"]
    fields = spec.methods[canonical]
    problems: list[str] = []
    for name, value in params.items():
        field = fields.get(name)
        if field is None:
            problems.append(f"{canonical}: unknown parameter {name!r}")
        elif not any(_matches(value, t) for t in field.types):
            problems.append(
                f"{canonical}: parameter {name!r} must be {' or '.join(field.types)}, "
                f"got {type(value).__name__} {value!r:.80}"
            )
    problems.extend(
        f"{canonical}: missing required parameter {field.name!r}"
        for field in fields.values()
        if field.required and field.name not in params
    )
    return problems
