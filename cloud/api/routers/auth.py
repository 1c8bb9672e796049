"""Sign-in (OAuth2 password and refresh-token grants), sign-out, and who-am-I."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, status

from cloud.api.access import PUBLIC, PrincipalDep, allow, client_address
from cloud.api.account_schemas import PrincipalPublic, SignOut, TokenPublic
from cloud.api.deps import ContextDep, NowDep, SessionDep
from cloud.api.params import NO_NUL
from cloud.api.responses import RETRY_LATER
from cloud.audit.trail import Change, record
from cloud.auth.accounts import user_principal
from cloud.auth.roles import Permission

router = APIRouter(prefix="/auth", tags=["auth"])

_GRANTS = "password or refresh_token"


@router.post(
    "/token",
    dependencies=[PUBLIC],
    responses={401: {"description": "wrong username or password, or an invalid refresh token"},
               429: {**RETRY_LATER, "description": "too many failed sign-ins; try again after `Retry-After`"}},
)
def issue_token(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    now: NowDep,
    grant_type: Annotated[Literal["password", "refresh_token"], Form(description=_GRANTS)],
    username: Annotated[str, Form(max_length=128, pattern=NO_NUL)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    refresh_token: Annotated[str, Form(max_length=512)] = "",
) -> TokenPublic:
    """Exchange a username and password (or a refresh token) for a short-lived access token and a refresh token."""
    client = client_address(request)
    if grant_type == "password":
        pair = context.sign_in.with_password(session, username, password, client, now)
        record(session, user_principal(pair.user), client,
               Change("sign_in", "user", str(pair.user.id), pair.user.tenant), now)
    else:
        pair = context.sign_in.with_refresh_token(session, refresh_token, now)
    session.commit()
    return TokenPublic(access_token=pair.access_token, expires_in=int(pair.expires_in),
                       refresh_token=pair.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=[allow(Permission.SELF_READ)])
def sign_out(body: SignOut, request: Request, context: ContextDep, session: SessionDep, principal: PrincipalDep,
             now: NowDep) -> None:
    """End the sign-in the refresh token belongs to (every token refreshed from it stops working)."""
    context.sign_in.sign_out(session, body.refresh_token, now)
    record(session, principal, client_address(request), Change("sign_out", principal.kind.value, principal.id,
                                                               principal.tenant), now)
    session.commit()


@router.get("/me", dependencies=[allow(Permission.SELF_READ)])
def who_am_i(principal: PrincipalDep) -> PrincipalPublic:
    """The identity, tenant, role and permissions of this request's credential."""
    return PrincipalPublic(
        kind=principal.kind.value, id=principal.id, name=principal.name, tenant=principal.tenant, role=principal.role,
        customer_id=principal.customer_id, technician_id=principal.technician_id,
        permissions=sorted(p.value for p in principal.permissions),
    )
