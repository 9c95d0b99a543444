"""Login and refresh flows: rate limit, password check, device binding, token pair."""

from __future__ import annotations

from dataclasses import dataclass

from fieldcrm.sync.protocol import RefreshRequest, TokenRequest, TokenResponse
from fieldcrm.sync.server.admin import Forbidden, register_device
from fieldcrm.sync.server.auth import (
    AuthFailed,
    check_login_allowed,
    check_password,
    clear_login_failures,
    find_user,
    issue_refresh_token,
    live_device,
    make_access_token,
    note_login_failure,
    rotate_refresh_token,
)
from fieldcrm.sync.server.engine import Database
from fieldcrm.sync.server.settings import ServerSettings

WRONG_LOGIN = "wrong username or password"


@dataclass(frozen=True)
class TokenContext:
    db: Database
    settings: ServerSettings
    secret: str


def _pair(
    ctx: TokenContext, session: object, *, user_id: str, role: str, device_id: str
) -> TokenResponse:
    s = ctx.settings
    refresh = issue_refresh_token(
        session,
        user_id=user_id,
        device_id=device_id,  # type: ignore[arg-type]
        idle_days=s.refresh_token_idle_days,
    )
    return TokenResponse(
        access_token=make_access_token(
            secret=ctx.secret, user_id=user_id, device_id=device_id, ttl_s=s.access_token_ttl_s
        ),
        expires_in=s.access_token_ttl_s,
        refresh_token=refresh,
        refresh_expires_in=int(s.refresh_token_idle_days * 86400),
        user_id=user_id,
        role=role,
        device_id=device_id,
    )


def login(ctx: TokenContext, *, body: TokenRequest, ip: str) -> TokenResponse:
    """Check the password (rate-limited per username+IP in the DB) and issue a token pair.

    Raises
    ------
    RateLimited
        Too many failures from this address for this user.
    AuthFailed
        Wrong username or password, disabled user, or revoked device.
    """
    key = f"{body.username.lower()}|{ip}"
    s = ctx.settings
    with ctx.db.read() as session, session.begin():
        check_login_allowed(
            session, key=key, max_failures=s.login_max_failures, window_s=s.login_window_s
        )
        user = find_user(session, username=body.username)
    # argon2 runs outside any transaction: on SQLite a write transaction would hold the lock.
    ok = check_password(user.password_hash if user else None, body.password) and user is not None
    with ctx.db.write() as session, session.begin():
        if ok:
            clear_login_failures(session, key=key)
        else:
            note_login_failure(session, key=key, window_s=s.login_window_s)
    if not ok or user is None:
        raise AuthFailed(WRONG_LOGIN, "wrong_login")
    with ctx.db.write() as session, session.begin():
        try:
            device = register_device(
                session, user_id=user.id, device_id=body.device_id, name=body.device_name
            )
        except Forbidden as exc:
            raise AuthFailed(str(exc), "device_taken") from None
        live_device(session, device_id=device.id, user_id=user.id)
        return _pair(ctx, session, user_id=user.id, role=user.role, device_id=device.id)


def refresh(ctx: TokenContext, *, body: RefreshRequest) -> TokenResponse:
    """Rotate a refresh token into a new access + refresh pair (the old one dies)."""
    with ctx.db.write() as session:
        with session.begin():
            try:
                old = rotate_refresh_token(session, token=body.refresh_token)
                user, device = live_device(session, device_id=old.device_id, user_id=old.user_id)
            except AuthFailed as exc:
                failure = exc
            else:
                return _pair(ctx, session, user_id=user.id, role=user.role, device_id=device.id)
        # Committed: a replayed token stays burnt even though this call fails.
        raise failure
