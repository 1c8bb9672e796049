"""Who calls, and may they: the one dependency every route declares.

Each route names exactly one rule in its decorator: `dependencies=[allow(Permission.X)]`
or `dependencies=[PUBLIC]`; `create_app` refuses to start when a route has none, and
publishes the rule in the OpenAPI schema (`x-permission`). Route dependencies run before
the route's own parameters, so a caller without the right is refused (401/403) before
its body is even read.

A caller proves itself with `Authorization: Bearer <token>`: an API key (`paas_…`) or an
access token from `POST /api/v1/auth/token`. A device fetching an artifact presents the
signed, expiring link it was sent (`?token=`); nothing else is accepted in a URL, where
it would end up in logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from cloud.api.deps import ContextDep, NowDep, SessionDep
from cloud.audit.trail import Change, record
from cloud.auth.account_changes import AccountChanges
from cloud.auth.accounts import api_key_principal, user_principal
from cloud.auth.principal import ArtifactGrant, Principal, PrincipalKind
from cloud.auth.roles import Permission
from cloud.auth.secrets import API_KEY_PREFIX
from cloud.errors import AuthenticationError, ConfigError
from cloud.store.account_tables import UserRow

TOKEN_PATH = "/api/v1/auth/token"
LINK_PARAM = "token"

# Two ways to fill the same `Authorization: Bearer` header, published as two security schemes: either will do.
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_PATH, auto_error=False,
                               description="a person's access token from the sign-in endpoint")
_api_key = HTTPBearer(scheme_name="ApiKey", bearerFormat=f"{API_KEY_PREFIX}<key id>_<secret>", auto_error=False,
                      description="an API key (`python -m cloud api-keys create`, `POST /api/v1/api-keys`)")


def authenticate(
    request: Request, context: ContextDep, session: SessionDep, bearer: Annotated[str | None, Depends(_bearer)],
    _key: Annotated[HTTPAuthorizationCredentials | None, Depends(_api_key)],
) -> Principal:
    """The caller's principal; `AuthenticationError` (401) without a valid credential."""
    if bearer:
        principal = _bearer_principal(context, session, bearer)
    elif link := request.query_params.get(LINK_PARAM):
        claims = context.tokens.verify_artifact(link)
        principal = Principal(PrincipalKind.DEVICE, claims.device_id, claims.device_id, claims.tenant,
                              artifact=ArtifactGrant(claims.device_id, claims.model_id, claims.version))
    else:
        raise AuthenticationError("sign in first: send Authorization: Bearer <access token or API key>")
    request.state.principal = principal
    return principal


def _bearer_principal(context: ContextDep, session: SessionDep, token: str) -> Principal:
    if token.startswith(API_KEY_PREFIX):
        return api_key_principal(session, token)
    claims = context.tokens.verify_access(token)
    user = session.get(UserRow, claims.user_id)
    if user is None or not user.active:
        raise AuthenticationError("the account is disabled or gone; sign in again")
    return user_principal(user)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


class AccessRule:
    """Base of the route rules; `permission` None means the route is public."""

    permission: Permission | None = None


class Allow(AccessRule):
    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, principal: PrincipalDep) -> Principal:
        principal.require(self.permission)  # type: ignore[arg-type]  # set in __init__
        return principal


class Public(AccessRule):
    """Open to anyone: liveness and the sign-in endpoint itself."""

    def __call__(self) -> None:
        return None


def allow(permission: Permission) -> DependsParam:
    """The rule of a route: the caller must hold `permission` (roles: cloud.auth.roles)."""
    rule: DependsParam = Depends(Allow(permission))
    return rule


PUBLIC = Depends(Public())


def check_routes(routes: Iterator[APIRoute]) -> None:
    """Every route declares exactly one rule, which is also published in its OpenAPI operation."""
    for route in routes:
        permission = rule_of(route).permission
        route.openapi_extra = {**(route.openapi_extra or {}),
                               "x-permission": "public" if permission is None else permission.value}


def rule_of(route: APIRoute) -> AccessRule:
    """The one access rule the route declares; `ConfigError` if it declares none or several."""
    calls: list[object] = [dep.call for dep in route.dependant.dependencies]
    rules = [rule for rule in calls if isinstance(rule, AccessRule)]
    if len(rules) != 1:
        methods = ",".join(sorted(route.methods or ()))
        raise ConfigError(f"route {methods} {route.path} declares {len(rules)} access rules; it needs exactly one "
                          "(dependencies=[allow(Permission.…)] or [PUBLIC])")
    return rules[0]


class Auditor:
    """Writes audit entries for the request's caller, in the request's transaction."""

    def __init__(self, session: SessionDep, principal: Principal, client: str, now: float) -> None:
        self._session, self.principal, self.client, self._now = session, principal, client, now

    def record(self, change: Change) -> None:
        record(self._session, self.principal, self.client, change, self._now)

    def account_changes(self) -> AccountChanges:
        """Account and directory changes made by this request's caller (they audit themselves)."""
        return AccountChanges(self._session, self.principal, self.client, self._now)


def get_auditor(request: Request, session: SessionDep, principal: PrincipalDep, now: NowDep) -> Auditor:
    return Auditor(session, principal, client_address(request), now)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


AuditDep = Annotated[Auditor, Depends(get_auditor)]
