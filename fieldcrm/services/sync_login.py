"""Sync login: the refresh token lives in the OS keyring (never in plain text)."""

from __future__ import annotations

from typing import Any

import httpx

from fieldcrm.db.engine import Database
from fieldcrm.db.outbox import pending_count
from fieldcrm.errors import SyncError
from fieldcrm.services.sync import KEYRING_SERVICE, device_id, get_meta, set_meta
from fieldcrm.sync.client import RetryPolicy, SyncClient
from fieldcrm.sync.protocol import TokenResponse

NO_KEYRING = (
    "No secure password store (OS keyring) is available on this computer, so fieldcrm cannot "
    "keep your sync login. Install or unlock one (GNOME Keyring / KWallet on Linux, the "
    "Windows Credential Manager, the macOS Keychain) and try again; fieldcrm never stores "
    "the login in plain text."
)


def keyring_key(server_url: str, user: str) -> str:
    return f"{server_url.rstrip('/')}|{user}"


def _keyring() -> Any:
    """The usable keyring backend.

    Raises
    ------
    SyncError
        kind ``keyring`` when only the fail/null backend (or none) is available.
    """
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        raise SyncError(NO_KEYRING, kind="keyring") from None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring) or getattr(backend, "priority", 1) <= 0:
        raise SyncError(NO_KEYRING, kind="keyring")
    return backend


def keyring_available() -> bool:
    """Whether a secure store for the sync login exists on this computer."""
    try:
        _keyring()
    except SyncError:
        return False
    return True


def server_of(client: SyncClient) -> str:
    return client.base_url or str(client.http.base_url).rstrip("/")


def _saver(server_url: str, user: str) -> Any:
    backend = _keyring()

    def save(pair: TokenResponse) -> None:
        try:
            backend.set_password(KEYRING_SERVICE, keyring_key(server_url, user), pair.refresh_token)
        except Exception as exc:  # a locked or broken keyring raises backend-specific errors
            raise SyncError(f"{NO_KEYRING} ({type(exc).__name__})", kind="keyring") from None

    return save


def login(db: Database, client: SyncClient, user: str, password: str, *,
          remember: bool = True) -> TokenResponse:
    """Log in, bind this replica's device id and keep the refresh token in the keyring.

    With ``remember=False`` the tokens live only in ``client`` (a headless run given the
    password each time, on a computer without a keyring): no secret is stored anywhere; the
    database still records which server and user it syncs with.

    Raises
    ------
    SyncError
        ``keyring`` (no secure store; checked before the password is sent), ``auth`` (wrong
        user name or password, or another user's changes still wait here), ``offline``...
    """
    server = server_of(client)
    client.on_tokens = _saver(server, user) if remember else None
    with db.session() as s:
        before, waiting = get_meta(s, "sync_user"), pending_count(s)
    if before and before.lower() != user.lower() and waiting:
        raise SyncError(
            f"This database holds {waiting} unsent change(s) made by {before}; log in as "
            f"{before} to send them first (or export them), then switch users.",
            kind="auth",
        )
    pair = client.login(user, password, device_id=device_id(db), device_name="fieldcrm")
    with db.session() as s:
        for key, value in (("server_url", server), ("sync_user", user),
                           ("user_id", pair.user_id), ("role", pair.role)):
            set_meta(s, key, value)
        s.commit()
    return pair


def resume(db: Database, client: SyncClient, user: str | None = None) -> SyncClient:
    """Prepare ``client`` from the keyring (no password): the next call refreshes the token.

    Raises
    ------
    SyncError
        ``keyring`` without a secure store; ``auth`` when nothing is stored for this login.
    """
    server = server_of(client)
    with db.session() as s:
        user = user or get_meta(s, "sync_user")
    if not user:
        raise SyncError("Not logged in to the sync server; log in first.", kind="auth")
    token = _keyring().get_password(KEYRING_SERVICE, keyring_key(server, user))
    if not token:
        raise SyncError(
            f"No saved sync login for {user} at {server}; log in with your password.", kind="auth"
        )
    client.refresh_token = token
    client.on_tokens = _saver(server, user)
    return client


def logout(server_url: str, user: str) -> None:
    """Forget the saved login (the server-side refresh token simply expires)."""
    import contextlib

    with contextlib.suppress(Exception):
        _keyring().delete_password(KEYRING_SERVICE, keyring_key(server_url, user))


def make_client(server_url: str, *, timeout: float = 30.0, **kwargs: Any) -> SyncClient:
    """A client over a fresh ``httpx.Client`` with timeouts (the caller closes ``.http``)."""
    http = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0))
    kwargs.setdefault("retry", RetryPolicy())
    return SyncClient(http, server_url.rstrip("/"), timeout=timeout, **kwargs)
