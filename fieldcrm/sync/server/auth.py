"""Passwords (argon2), access tokens (HS256 JWT), rotated refresh tokens and login rate limits."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from fieldcrm.domain.enums import Role
from fieldcrm.sync.server.models import (
    Device,
    LoginAttempt,
    RefreshToken,
    ServerMeta,
    Territory,
    TerritoryAssignment,
    User,
    utcnow,
)
from fieldcrm.sync.server.scopes import insert_for

AUDIENCE = "sync"
ISSUER = "fieldcrm-server"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("fieldcrm-timing-equaliser")


def configure_hasher(*, time_cost: int, memory_cost_kib: int) -> None:
    """Change the argon2 cost for new hashes (tests use a cheap one; old hashes still verify)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)
    _DUMMY_HASH = _hasher.hash("fieldcrm-timing-equaliser")


class AuthFailed(Exception):
    """401 with a plain message safe to show and a stable ``code`` for clients."""

    def __init__(self, message: str, code: str = "invalid_token") -> None:
        super().__init__(message)
        self.code = code


class RateLimited(Exception):
    """429: too many failed logins for this user from this address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    device_id: str
    expires_at: datetime


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """Verify in constant-ish time; an unknown user still pays for one argon2 check."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def server_secret(session: Session, configured: str | None) -> str:
    """The configured secret, else one made once and shared by every worker through the DB."""
    if configured:
        return configured
    row = session.get(ServerMeta, "jwt_secret")
    if row is None:
        session.execute(
            insert_for(session)(ServerMeta)
            .values(key="jwt_secret", value=secrets.token_urlsafe(48))
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.get(ServerMeta, "jwt_secret", populate_existing=True)
    assert row is not None
    return row.value


def make_access_token(*, secret: str, user_id: str, device_id: str, ttl_s: int) -> str:
    now = utcnow()
    claims = {
        "sub": user_id,
        "device_id": device_id,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_access_token(*, secret: str, token: str) -> TokenClaims:
    """Decode and check signature, audience, issuer and expiry.

    Raises
    ------
    AuthFailed
        The token is expired, tampered with or malformed.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthFailed("access token expired; refresh it", "token_expired") from None
    except jwt.PyJWTError:
        raise AuthFailed("invalid access token") from None
    device = claims.get("device_id")
    if not isinstance(device, str) or not isinstance(claims["sub"], str):
        raise AuthFailed("invalid access token")
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    return TokenClaims(user_id=claims["sub"], device_id=device, expires_at=expires)


def _digest(token: str) -> str:
    # Refresh tokens are 256-bit random: a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(session: Session, *, user_id: str, device_id: str, idle_days: float) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            token_hash=_digest(token),
            device_id=device_id,
            user_id=user_id,
            created_at=utcnow(),
            expires_at=utcnow() + timedelta(days=idle_days),
        )
    )
    return token


def rotate_refresh_token(session: Session, *, token: str) -> RefreshToken:
    """Consume a refresh token (once); reuse of a spent one revokes the device's tokens.

    Raises
    ------
    AuthFailed
        Unknown, expired, already used, or its device/user is revoked or disabled.
    """
    row = session.get(RefreshToken, _digest(token))
    now = utcnow()
    if row is None or row.expires_at < now:
        raise AuthFailed("refresh token expired or unknown; log in again", "refresh_invalid")
    spent = session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == row.token_hash, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        # A stolen copy or a replay: burn every live token of that device.
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.device_id == row.device_id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        raise AuthFailed("refresh token already used; log in again", "refresh_reused")
    return row


def check_login_allowed(session: Session, *, key: str, max_failures: int, window_s: int) -> None:
    """Raise ``RateLimited`` when ``key`` (username|ip) failed too often in the window."""
    row = session.get(LoginAttempt, key)
    if row is None:
        return
    ends = row.window_start + timedelta(seconds=window_s)
    now = utcnow()
    if row.failures >= max_failures and now < ends:
        raise RateLimited(max(1, int((ends - now).total_seconds()) + 1))


def note_login_failure(session: Session, *, key: str, window_s: int) -> None:
    now = utcnow()
    insert = insert_for(session)
    stmt = insert(LoginAttempt).values(key=key, window_start=now, failures=1)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"], set_={"failures": LoginAttempt.failures + 1}
        )
    )
    row = session.get(LoginAttempt, key, populate_existing=True)
    if row is not None and row.window_start + timedelta(seconds=window_s) < now:
        row.window_start, row.failures = now, 1


def clear_login_failures(session: Session, *, key: str) -> None:
    row = session.get(LoginAttempt, key)
    if row is not None:
        session.delete(row)


def live_device(session: Session, *, device_id: str, user_id: str) -> tuple[User, Device]:
    """The device and its user, if both still may sync.

    Raises
    ------
    AuthFailed
        The device is unknown, revoked or someone else's, or the user is disabled.
    """
    device = session.get(Device, device_id)
    user = session.get(User, user_id)
    if device is None or user is None or device.user_id != user.id:
        raise AuthFailed("unknown device; log in again", "unknown_device")
    if device.revoked_at is not None:
        raise AuthFailed("this device was revoked by an administrator", "device_revoked")
    if user.disabled:
        raise AuthFailed("this account is disabled", "user_disabled")
    return user, device


def find_user(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


@dataclass(frozen=True, slots=True)
class LiveCaller:
    """What one authenticated request needs: user, role, device and the held territories."""

    user_id: str
    role: str
    device_id: str
    last_seen: datetime | None
    territories: frozenset[str]


def live_caller(conn: Connection, *, device_id: str, user_id: str) -> LiveCaller:
    """``live_device`` plus the user's current territories, in one statement (one round trip).

    Managers and admins hold every live territory: a second statement for them.

    Raises
    ------
    AuthFailed
        The device is unknown, revoked or someone else's, or the user is disabled.
    """
    held = TerritoryAssignment
    q = (
        select(
            Device.user_id,
            Device.revoked_at,
            Device.last_seen,
            User.role,
            User.disabled,
            held.territory_id,
        )
        .select_from(Device)
        .join(User, User.id == Device.user_id)
        .outerjoin(held, (held.user_id == User.id) & held.valid_to.is_(None))
        .where(Device.id == device_id)
    )
    rows = conn.execute(q).all()
    if not rows or rows[0].user_id != user_id:
        raise AuthFailed("unknown device; log in again", "unknown_device")
    first = rows[0]
    if first.revoked_at is not None:
        raise AuthFailed("this device was revoked by an administrator", "device_revoked")
    if first.disabled:
        raise AuthFailed("this account is disabled", "user_disabled")
    if first.role in (Role.MANAGER, Role.ADMIN):
        territories = set(conn.scalars(select(Territory.id).where(Territory.deleted.is_(False))))
    else:
        territories = {r.territory_id for r in rows if r.territory_id is not None}
    return LiveCaller(
        user_id=user_id,
        role=first.role,
        device_id=device_id,
        last_seen=first.last_seen,
        territories=frozenset(territories),
    )
