"""API tokens: everyone manages their own; administrators manage everyone's
(docs/product.md#users-and-access)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from drumbeat.accounts.models import ApiToken, User

from .auth import current_user, require_admin
from .errors import with_errors
from .fields import Id, Text
from .listing import list_params, page_schema, paginate
from .lookups import get_or_404

router = Router(tags=["API tokens"])
me_router = Router(tags=["API tokens"])

TOKEN_EXAMPLE = {
    "id": 3,
    "user": 1,
    "name": "CRM sync",
    "prefix": "dbt_Xk2mP9qa",
    "created_at": "2026-03-01T09:00:00Z",
    "last_used_at": "2026-03-02T17:45:12Z",
    "revoked_at": None,
    "is_active": True,
}


class TokenOut(Schema):
    id: int
    user: int
    name: str
    prefix: str = Field(description="First characters of the token, to recognise it")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    is_active: bool

    model_config = ConfigDict(json_schema_extra={"examples": [TOKEN_EXAMPLE]})

    @staticmethod
    def resolve_user(obj: ApiToken) -> int:
        return obj.user_id


class NewTokenOut(TokenOut):
    """A token just created, with its secret."""

    token: str = Field(description="The secret; shown this once, only its hash is stored")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**TOKEN_EXAMPLE, "token": "dbt_Xk2mP9qa…"}]}
    )


class TokenIn(Schema):
    name: Text(100, 1)  # type: ignore[valid-type]
    user: Id | None = Field(None, description="Owner (administrators only); default: yourself")

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "CRM sync"}]})


class MeOut(Schema):
    id: int
    username: str
    email: str
    role: str
    is_administrator: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "username": "admin",
                    "email": "admin@example.com",
                    "role": "admin",
                    "is_administrator": True,
                }
            ]
        }
    )


TokenList = list_params(
    "TokenListParams",
    "accounts.apitoken",
    ["id", "name", "created_at", "last_used_at"],
    example='[["revoked_at", "=", false], ["last_used_at", "<", {"now": "-90d"}]]',
)


def _visible_tokens(request: HttpRequest):
    user = current_user(request)
    tokens = ApiToken.objects.all()
    return tokens if user.is_administrator else tokens.filter(user=user)


@me_router.get("", response=with_errors({200: MeOut}), summary="The calling user")
def me(request: HttpRequest):
    return current_user(request)


@router.get(
    "",
    response=with_errors({200: page_schema(TokenOut)}),
    summary="List API tokens",
    description="Your tokens; administrators see everyone's.",
)
def list_tokens(request: HttpRequest, params: Query[TokenList]):  # type: ignore[valid-type]
    return paginate(_visible_tokens(request), params)


@router.post("", response=with_errors({201: NewTokenOut}), summary="Create an API token")
def create_token(request: HttpRequest, payload: TokenIn):
    owner = current_user(request)
    if payload.user is not None and payload.user != owner.pk:
        require_admin(request, "create tokens for other users")
        owner = get_or_404(User.objects.filter(is_active=True), payload.user, "active user")
    token, raw = ApiToken.issue(owner, payload.name.strip() or "API token")
    token.token = raw  # type: ignore[attr-defined]
    return Status(201, token)


@router.get("/{id}", response=with_errors({200: TokenOut}), summary="Read an API token")
def get_token(request: HttpRequest, id: Id):  # noqa: A002
    token = get_or_404(ApiToken, id, "API token")
    _check_owner(request, token)
    return token


@router.delete("/{id}", response=with_errors({204: None}), summary="Revoke an API token")
def revoke_token(request: HttpRequest, id: Id):  # noqa: A002
    token = get_or_404(ApiToken, id, "API token")
    _check_owner(request, token)
    token.revoke()
    return Status(204, None)


def _check_owner(request: HttpRequest, token: ApiToken) -> None:
    user = current_user(request)
    if token.user_id != user.pk and not user.is_administrator:
        raise HttpError(403, "Only administrators may manage other users' tokens.")
