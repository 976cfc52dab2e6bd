"""A query parameter no route declares is a 400 naming it, on every route: a misspelt
filter (`?stat=running`) must not quietly answer with everything.

The accepted names are read from each operation's query models, the same ones the OpenAPI
document lists, so a route's documented parameters and its accepted ones cannot drift apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.operation import Operation


class UnknownParameters(Exception):
    """Query parameters the route does not take (`names`), and the ones it does."""

    def __init__(self, names: list[str], accepted: Iterable[str]) -> None:
        self.names = names
        self.accepted = sorted(accepted)
        shown = ", ".join(repr(name) for name in names)
        takes = ", ".join(self.accepted) if self.accepted else "no query parameters"
        plural = "s" if len(names) > 1 else ""
        super().__init__(f"Unknown query parameter{plural} {shown}; this route takes {takes}.")


def accepted_query_names(operation: Operation) -> frozenset[str]:
    """The query parameter names `operation` reads (flattened `Query[Schema]` fields)."""
    names: set[str] = set()
    for model in operation.models:
        if model.__ninja_param_source__ != "query":
            continue
        flatten_map = getattr(model, "__ninja_flatten_map__", None)
        if flatten_map:
            names.update(flatten_map)
        else:
            names.update(info.alias or name for name, info in model.model_fields.items())
    return frozenset(names)


def refuse_unknown_parameters(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an operation's `run` (a ninja "view" decorator): unknown query parameters get a
    400 — after authentication, so an anonymous caller still gets the 401 of every route."""
    operation: Operation = inspect.unwrap(run).__self__  # type: ignore[attr-defined]
    accepted = accepted_query_names(operation)

    @wraps(run)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        unknown = sorted(set(request.GET) - accepted)
        if not unknown:
            return run(request, *args, **kwargs)
        refused = operation._run_checks(request)  # authentication, as run() does first
        if refused is not None:
            return refused
        return operation.api.on_exception(request, UnknownParameters(unknown, accepted))

    return checked


def install(api: NinjaAPI) -> None:
    """Check the query parameters of every operation of `api` (before its routers bind)."""
    api.add_decorator(refuse_unknown_parameters, mode="view")
