"""Field types shared by the API schemas: bounded ids, clean text, and PATCH variants."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, Field, StringConstraints, create_model

MAX_ID = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _clean_text(value: str) -> str:
    """Refuse text that no database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text")
    return value


def Text(max_length: int, min_length: int = 0) -> Any:  # noqa: N802 - reads as a type
    return Annotated[
        str,
        StringConstraints(max_length=max_length, min_length=min_length),
        AfterValidator(_clean_text),
    ]


def QueryText(max_length: int) -> Any:  # noqa: N802 - reads as a type
    """Text for a query-string parameter. The pattern is documented because a URL carrying a
    NUL character is refused before it reaches the API (drumbeat.lib.security)."""
    return Annotated[
        str,
        StringConstraints(max_length=max_length, pattern=r"^[^\x00]*$"),
        AfterValidator(_clean_text),
    ]


def check_json_text(value: Any) -> None:
    """Apply `_clean_text` to every string inside decoded JSON (domains, configurations)."""
    if isinstance(value, str):
        _clean_text(value)
    elif isinstance(value, list):
        for item in value:
            check_json_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_text(key)
            check_json_text(item)


def partial_schema(schema: type[Schema], name: str) -> type[Schema]:
    """`schema` with every field optional, for PATCH: fields left out are not changed, and
    a field sent as null is refused unless the field itself accepts null."""
    fields: dict[str, Any] = {}
    for field_name, info in schema.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[field_name] = (info.annotation, optional)
    extra = schema.model_config.get("json_schema_extra") or {}
    model = create_model(name, __base__=Schema, __doc__=schema.__doc__, **fields)
    if isinstance(extra, dict) and extra.get("examples"):
        first = extra["examples"][0]
        key = next(iter(first))
        model.model_config["json_schema_extra"] = {"examples": [{key: first[key]}]}
        model.model_rebuild(force=True)
    return model
