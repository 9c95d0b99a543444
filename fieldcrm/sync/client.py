"""Blocking HTTP client of the sync protocol: tokens, retries, Retry-After, typed errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from fieldcrm.errors import Cancelled, SyncError
from fieldcrm.sync.protocol import (
    HEADER_PROTOCOL,
    HEADER_SCHEMA,
    PROTOCOL_VERSION,
    SCHEMA_VERSION,
    ConflictOut,
    Cursor,
    DeviceOut,
    DeviceRegisterRequest,
    Mutation,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
    RefreshRequest,
    ResolveRequest,
    ScopeDigest,
    TokenRequest,
    TokenResponse,
    VerifyRequest,
    VerifyResponse,
)

WRONG_LOGIN = "Wrong user name or password."
_M = TypeVar("_M", bound=BaseModel)


@dataclass
class Tokens:
    """The current token pair; ``expires_at`` is on the client's (injected) monotonic clock."""

    access_token: str
    refresh_token: str
    expires_at: float
    lifetime: float
    user_id: str
    role: str
    device_id: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (SYNC.md: 1 s up to 5 min), honouring Retry-After."""

    attempts: int = 4
    base_s: float = 1.0
    cap_s: float = 300.0
    max_wait_s: float = 300.0

    def delay(self, attempt: int, rng: random.Random, hint: float | None = None) -> float:
        jitter = rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return min(self.max_wait_s, max(hint or 0.0, jitter))


def retry_hint(response: httpx.Response) -> float | None:
    """Seconds asked by ``Retry-After`` (seconds form) or ``Backoff``; None when absent."""
    for name in ("Retry-After", "Backoff"):
        raw = response.headers.get(name, "").strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            continue
    return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail or body)[:500]


class SyncClient:
    """Talks to ``fieldcrm-server`` over an injected ``httpx.Client``; one call at a time.

    ``cancelled`` is checked before every request and while waiting, so a UI "Cancel" stops
    the cycle between requests. ``on_tokens`` is called with every new token pair (refresh
    tokens rotate on each use, so the caller must store each new one). ``timeout`` overrides
    the ``httpx.Client``'s own timeouts (``services.sync_login.make_client`` sets them).
    """

    def __init__(
        self,
        http: httpx.Client,
        base_url: str = "",
        *,
        timeout: float | None = None,
        protocol: int = PROTOCOL_VERSION,
        schema: int = SCHEMA_VERSION,
        retry: RetryPolicy | None = None,
        cancelled: Callable[[], bool] | None = None,
        on_tokens: Callable[[TokenResponse], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.protocol, self.schema = protocol, schema
        self.retry = retry or RetryPolicy()
        self.cancelled = cancelled or (lambda: False)
        self.on_tokens = on_tokens
        self._sleep, self._clock, self._wall = sleep, clock, wall
        self.clock_skew_s: float | None = None
        self._rng = random.Random(seed)
        self.tokens: Tokens | None = None
        self.refresh_token: str | None = None
        self.requests = 0

    # --- auth -------------------------------------------------------------------------

    def login(
        self, username: str, password: str, *, device_id: str | None = None, device_name: str = ""
    ) -> TokenResponse:
        """Log in with a password (binds ``device_id``).

        Raises
        ------
        SyncError
            kind ``auth`` for a wrong user name or password, ``offline``, ``busy``...
        """
        body = TokenRequest(
            username=username, password=password, device_id=device_id, device_name=device_name
        )
        return self._take(
            self._call("POST", "/v1/auth/token", body, TokenResponse, auth=False, login=True)
        )

    def refresh(self) -> TokenResponse:
        """Trade the refresh token for a new pair (the old one stops working).

        Raises
        ------
        SyncError
            kind ``auth`` when there is no refresh token or the server refused it.
        """
        token = self.tokens.refresh_token if self.tokens else self.refresh_token
        if not token:
            raise SyncError("Not logged in to the sync server; log in first.", kind="auth")
        body = RefreshRequest(refresh_token=token)
        return self._take(self._call("POST", "/v1/auth/refresh", body, TokenResponse, auth=False))

    def _take(self, pair: TokenResponse) -> TokenResponse:
        self.tokens = Tokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_at=self._clock() + pair.expires_in,
            lifetime=float(pair.expires_in),
            user_id=pair.user_id,
            role=pair.role,
            device_id=pair.device_id,
        )
        self.refresh_token = pair.refresh_token
        if self.on_tokens is not None:
            self.on_tokens(pair)
        return pair

    def ensure_session(self) -> Tokens:
        """Return live tokens, refreshing when there are none yet or they are about to expire."""
        margin = min(2.0, 0.2 * self.tokens.lifetime) if self.tokens else 0.0
        if self.tokens is None or self.tokens.expires_at - self._clock() < margin:
            self.refresh()
        assert self.tokens is not None
        return self.tokens

    # --- sync -------------------------------------------------------------------------

    def push(self, mutations: list[Mutation]) -> PushResponse:
        """Send one batch (≤ 100); a result per mutation, in client_seq order."""
        device = self.ensure_session().device_id
        body = PushRequest(device_id=device, schema_version=self.schema, mutations=mutations)
        return self._call("POST", "/v1/sync/push", body, PushResponse)

    def pull(self, cursors: dict[str, Cursor], limit: int = 500) -> PullResponse:
        """One pull page after ``cursors``."""
        return self._call(
            "POST", "/v1/sync/pull", PullRequest(cursors=cursors, limit=limit), PullResponse
        )

    def verify(self, scopes: dict[str, ScopeDigest]) -> VerifyResponse:
        """Compare per-scope digests; the answer lists the scopes to resync."""
        return self._call("POST", "/v1/sync/verify", VerifyRequest(scopes=scopes), VerifyResponse)

    def register_device(self, device_id: str, name: str = "") -> DeviceOut:
        """Register (or rename) another device of the logged-in user."""
        body = DeviceRegisterRequest(device_id=device_id, name=name)
        return self._call("POST", "/v1/devices/register", body, DeviceOut)

    def resolve_conflict(self, conflict_id: str, action: str) -> ConflictOut:
        """Tell the server how a conflict was settled (``keep`` or, for managers, ``apply``)."""
        return self._call(
            "POST",
            f"/v1/conflicts/{conflict_id}/resolve",
            ResolveRequest(action=action),
            ConflictOut,
        )  # type: ignore[arg-type]

    # --- plumbing ---------------------------------------------------------------------

    def _headers(self, auth: bool) -> dict[str, str]:
        headers = {HEADER_PROTOCOL: str(self.protocol), HEADER_SCHEMA: str(self.schema)}
        if auth:
            headers["Authorization"] = f"Bearer {self.ensure_session().access_token}"
        return headers

    def _wait(self, seconds: float) -> None:
        end = self._clock() + seconds
        while True:
            if self.cancelled():
                raise Cancelled("sync cancelled")
            left = end - self._clock()
            if left <= 0:
                return
            self._sleep(min(left, 0.2))

    def _note_skew(self, response: httpx.Response) -> None:
        """Remember how far our wall clock is from the server's ``Date`` (a warning only:
        no outcome depends on client clocks)."""
        from email.utils import parsedate_to_datetime

        raw = response.headers.get("date")
        if not raw:
            return
        try:
            server = parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            return
        self.clock_skew_s = round(self._wall() - server, 1)

    def _call(
        self,
        method: str,
        path: str,
        body: BaseModel,
        out: type[_M],
        *,
        auth: bool = True,
        login: bool = False,
    ) -> _M:
        """One request with retries; an expired access token is refreshed once (free)."""
        payload = body.model_dump(mode="json")
        attempt, refreshed = 0, False
        while True:
            response = self._send(method, path, payload, auth=auth, attempt=attempt)
            if response is None:
                attempt += 1
                continue
            code = response.status_code
            if code == 401 and auth and not refreshed and "expired" in _detail(response):
                self.refresh()
                refreshed = True
                continue
            if code == 429 and login:
                wait = retry_hint(response) or 60
                raise SyncError(f"Too many failed logins; try again in {wait / 60:.0f} minute(s).",
                                kind="auth")
            if code in (429, 503) or code >= 500:
                if attempt >= self.retry.attempts:
                    raise SyncError(f"The sync server is busy: {_detail(response)}", kind="busy")
                self._wait(self.retry.delay(attempt, self._rng, retry_hint(response)))
                attempt += 1
                continue
            if code >= 400:
                raise _error(code, response, login=login)
            return _parse(response, out)

    def _send(
        self, method: str, path: str, payload: Any, *, auth: bool, attempt: int
    ) -> httpx.Response | None:
        """Send once; None after a transport error (having waited), offline on the last try."""
        if self.cancelled():
            raise Cancelled("sync cancelled")
        self.requests += 1
        extra = {} if self.timeout is None else {"timeout": self.timeout}
        try:
            response = self.http.request(
                method, self.base_url + path, json=payload, headers=self._headers(auth), **extra
            )
        except httpx.TransportError as exc:
            if attempt >= self.retry.attempts:
                raise SyncError(
                    f"Cannot reach the sync server ({type(exc).__name__}); working offline.",
                    kind="offline",
                ) from None
            self._wait(self.retry.delay(attempt, self._rng))
            return None
        self._note_skew(response)
        return response


def _parse(response: httpx.Response, out: type[_M]) -> _M:
    try:
        return out.model_validate_json(response.content)
    except (ValidationError, ValueError) as exc:
        raise SyncError(
            f"The sync server sent an unreadable answer: {exc}", kind="server"
        ) from None


def _error(code: int, response: httpx.Response, *, login: bool) -> SyncError:
    detail = _detail(response)
    if code == 401:
        if login and ("password" in detail.lower() or not detail):
            return SyncError(WRONG_LOGIN, kind="auth")
        if login and "belongs to another user" in detail:
            return SyncError("This database is registered to another user on the sync server; "
                             "each user needs their own fieldcrm database.", kind="auth")
        if login:
            return SyncError(f"The sync server refused this login: {detail}", kind="auth")
        return SyncError(_auth_message(detail), kind="auth")
    if code == 426:
        return SyncError(
            f"The sync server does not support this version of fieldcrm ({detail}). Update "
            "fieldcrm; your changes are kept and will sync after the update.",
            kind="protocol",
        )
    if code == 403:
        return SyncError(f"The sync server refused: {detail}", kind="forbidden")
    return SyncError(f"The sync server refused the request ({code}): {detail}", kind="server")


def _auth_message(detail: str) -> str:
    """Say plainly why the server refused our token; the outbox is always kept."""
    if "revoked" in detail:
        return "This laptop was revoked by an administrator; your unsynced changes are kept."
    if "disabled" in detail:
        return "Your user account is disabled on the sync server; your changes are kept."
    if "expired" in detail or "already used" in detail or "unknown" in detail:
        return "Your sync login has expired; log in again with your password."
    return f"The sync server did not accept your login ({detail}); log in again."


def status_of(exc: SyncError) -> dict[str, Any]:
    """A JSON-friendly view of a sync error."""
    return {"kind": exc.kind, "message": str(exc)}
