"""Every failure the API reports is JSON `{"detail": "…"}` with a fitting status; bad input
never becomes a 500. Validation errors also carry `errors`: one entry per offending field."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import Field

from drumbeat.automation.domains import DomainError

from .unknown_params import UnknownParameters

log = logging.getLogger(__name__)

# ninja prefixes locations with where the value came from and the parameter's name
_LOCATION_PREFIXES = {
    "body",
    "query",
    "path",
    "header",
    "cookie",
    "form",
    "file",
    "payload",
    "params",
}


class FieldError(Schema):
    field: str = Field(examples=["email"])
    message: str = Field(examples=["Enter a valid email address."])


class ErrorOut(Schema):
    detail: str = Field(examples=["email: Enter a valid email address."])
    errors: list[FieldError] | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"detail": "Not found: no contact with id 42."},
                {
                    "detail": "email: Enter a valid email address.",
                    "errors": [{"field": "email", "message": "Enter a valid email address."}],
                },
            ]
        }
    }


class Conflict(HttpError):
    def __init__(self, message: str) -> None:
        super().__init__(409, message)


R = TypeVar("R")


def state_change(action: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a service call; a refusal that names no field is about the current state: 409."""
    try:
        return action(*args, **kwargs)
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise
        raise Conflict(" ".join(exc.messages))


ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422)


def with_errors(ok: dict[int, object]) -> dict[int, object]:
    """A response map for an operation: its success responses plus every error status."""
    return {**ok, **{status: ErrorOut for status in ERROR_STATUSES}}


def _field_name(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    while len(parts) > 1 and parts[0] in _LOCATION_PREFIXES:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _respond(
    api: NinjaAPI, request: HttpRequest, status: int, detail: str, errors: list | None = None
) -> HttpResponse:
    body: dict = {"detail": detail}
    if errors:
        body["errors"] = errors
    return api.create_response(request, body, status=status)


def _ninja_validation(api: NinjaAPI, request: HttpRequest, exc: NinjaValidationError):
    errors = [
        {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid input."
    return _respond(api, request, 422, detail, errors)


def _django_validation(api: NinjaAPI, request: HttpRequest, exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": "body" if name == "__all__" else name, "message": " ".join(messages)}
            for name, messages in exc.message_dict.items()
        ]
    else:
        errors = [{"field": "body", "message": " ".join(exc.messages)}]
    detail = "; ".join(
        e["message"] if e["field"] == "body" else f"{e['field']}: {e['message']}" for e in errors
    )
    return _respond(api, request, 422, detail, errors)


def _domain(api: NinjaAPI, request: HttpRequest, exc: DomainError):
    return _respond(api, request, 400, f"domain: {exc}")


def _unknown_parameters(api: NinjaAPI, request: HttpRequest, exc: UnknownParameters):
    errors = [{"field": name, "message": "unknown query parameter"} for name in exc.names]
    return _respond(api, request, 400, str(exc), errors)


def _not_found(api: NinjaAPI, request: HttpRequest, exc: Exception):
    message = str(exc) if isinstance(exc, ObjectDoesNotExist | Http404) and str(exc) else ""
    if isinstance(exc, ObjectDoesNotExist) and "matching query" in message:
        message = ""  # Django's default text names the model class, not the resource
    return _respond(api, request, 404, f"Not found{': ' + message if message else '.'}")


def _integrity(api: NinjaAPI, request: HttpRequest, exc: IntegrityError):
    log.info("API write refused by a constraint: %s", exc)
    return _respond(api, request, 409, "Conflict: a record with these values already exists.")


def _protected(api: NinjaAPI, request: HttpRequest, exc: ProtectedError | RestrictedError):
    used_by = sorted({obj._meta.verbose_name for obj in exc.protected_objects})
    return _respond(api, request, 409, f"Conflict: still used by {', '.join(map(str, used_by))}.")


def _data(api: NinjaAPI, request: HttpRequest, exc: DataError):
    log.info("API write refused by the database: %s", exc)
    return _respond(api, request, 422, "A value does not fit its field (too long or invalid).")


def _too_big(api: NinjaAPI, request: HttpRequest, exc: RequestDataTooBig):
    return _respond(api, request, 413, "The request body is too large.")


def _overflow(api: NinjaAPI, request: HttpRequest, exc: OverflowError):
    return _respond(api, request, 422, "A number is out of range.")


def _http(api: NinjaAPI, request: HttpRequest, exc: HttpError):
    response = _respond(api, request, exc.status_code, str(exc))
    if exc.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="drumbeat"'
    return response


def install_error_handlers(api: NinjaAPI) -> None:
    handlers = {
        NinjaValidationError: _ninja_validation,
        DjangoValidationError: _django_validation,
        DomainError: _domain,
        UnknownParameters: _unknown_parameters,
        ObjectDoesNotExist: _not_found,
        Http404: _not_found,
        IntegrityError: _integrity,
        ProtectedError: _protected,
        RestrictedError: _protected,
        DataError: _data,
        RequestDataTooBig: _too_big,
        OverflowError: _overflow,
        HttpError: _http,
    }
    for exc_class, handler in handlers.items():
        api.add_exception_handler(exc_class, partial(handler, api))
