"""API keys of the HTTP service: created, listed, revoked, and checked on each request.

A token reads ``ace_<key id>_<secret>``: the key id (12 hex characters) is public and
names the row; the secret is 32 random bytes (``secrets.token_urlsafe``). Only the hex
SHA-256 of the whole token is stored (``api_keys.token_hash``, revision 0003), and a
presented token is compared with ``hmac.compare_digest``; the token itself is shown once,
when it is created. A fast hash is enough here because the secret has 256 bits of entropy:
there is nothing to guess from the hash.

Each key belongs to one tenant (everything it reads or writes is that tenant's) and may be
limited to playbook ids starting with one of its ``prefixes``. Keys are never deleted,
only revoked, so "keys are configured" (`KeyRing.configured`) stays true once the first
key exists: revoking every key locks the API, it never reopens it to anonymous callers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from ace.errors import UsageError
from ace.service.models import ApiKey, Tenant, utcnow
from ace.service.requests import tenant_of

if TYPE_CHECKING:
    from ace.service.store import Store

TOKEN_PREFIX = "ace_"
"""Every token starts with this (so a leaked one is easy to search for)."""
KEY_ID_CHARS = 12
"""Hex characters of a key's public id."""
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
"""What a playbook id prefix of a key may be: the start of a valid playbook id."""
_TOKEN = re.compile(rf"{TOKEN_PREFIX}([0-9a-f]{{{KEY_ID_CHARS}}})_([A-Za-z0-9_-]{{20,100}})")
_COLUMNS = select(*ApiKey.__table__.c)
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
CONFIGURED_RECHECK_S = 1.0
"""While no key exists, how long a `KeyRing` trusts that answer before asking again."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as listed (never its token)."""

    id: str
    tenant: str
    prefixes: tuple[str, ...]
    """Playbook ids it may use start with one of these (empty: any playbook of its tenant)."""
    name: str | None
    rate_limit: int | None
    """Requests per minute (None: the server's default)."""
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key is not revoked."""
        return self.revoked_at is None

    def allows(self, playbook_id: str) -> bool:
        """Whether this key may use ``playbook_id``."""
        return not self.prefixes or playbook_id.startswith(self.prefixes)


def hash_token(token: str) -> str:
    """The hex SHA-256 a token is stored as."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """The prefixes, validated (each the start of a valid playbook id), without repeats."""
    checked: dict[str, None] = {}
    for prefix in prefixes:
        if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix):
            raise UsageError(
                f"key prefix {prefix!r}: must be 1-128 characters of letters, digits, '.', "
                "'_', ':' or '-', starting with a letter or digit"
            )
        checked.setdefault(prefix)
    return tuple(checked)


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        tenant=row.tenant_id,
        prefixes=tuple(row.prefixes or ()),
        name=row.name,
        rate_limit=row.rate_limit,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create_key(
    store: Store,
    tenant: str | None,
    *,
    prefixes: Sequence[str] = (),
    name: str | None = None,
    rate_limit: int | None = None,
) -> tuple[ApiKeyInfo, str]:
    """Create a key of ``tenant`` (None: the default tenant); returns it and its token,
    which is not stored and cannot be shown again."""

    tenant = tenant_of(tenant)
    checked = check_prefixes(prefixes)
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise UsageError("key name must be a string of at most 200 characters")
    if rate_limit is not None and (
        isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit < 1
    ):
        raise UsageError(f"rate_limit must be an integer >= 1 (per minute), got {rate_limit!r}")
    key_id = secrets.token_hex(KEY_ID_CHARS // 2)
    token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    with store._write() as connection:
        store._insert_ignore(connection, Tenant, {"id": tenant, "created_at": now}, ["id"])
        connection.execute(
            insert(ApiKey).values(
                id=key_id,
                tenant_id=tenant,
                token_hash=hash_token(token),
                prefixes=list(checked),
                name=name,
                rate_limit=rate_limit,
                created_at=now,
                revoked_at=None,
            )
        )
    info = get_key(store, key_id)
    assert info is not None
    return info, token


def get_key(store: Store, key_id: str) -> ApiKeyInfo | None:
    """The key ``key_id``, revoked or not, or None."""

    with store._read() as connection:
        row = connection.execute(_COLUMNS.where(ApiKey.id == key_id)).one_or_none()
    return None if row is None else _info(row)


def list_keys(store: Store, tenant: str | None = None) -> list[ApiKeyInfo]:
    """Every key (of ``tenant`` when given), oldest first."""

    query = _COLUMNS.order_by(ApiKey.created_at, ApiKey.id)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant_of(tenant))
    with store._read() as connection:
        return [_info(row) for row in connection.execute(query)]


def revoke_key(store: Store, key_id: str) -> ApiKeyInfo:
    """Revoke ``key_id`` (at once: the next request with it is refused). Revoking a revoked
    key changes nothing; an unknown id is a ``UsageError``."""

    with store._write() as connection:
        connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    info = get_key(store, key_id)
    if info is None:
        raise UsageError(f"no API key {key_id!r} (see `ace keys list`)")
    return info


def keys_exist(store: Store) -> bool:
    """Whether any key was ever created (revoked ones count)."""

    with store._read() as connection:
        return connection.execute(select(ApiKey.id).limit(1)).first() is not None


def authenticate(store: Store, token: str) -> ApiKeyInfo | None:
    """The active key whose token is ``token``, or None (malformed, unknown, wrong secret or
    revoked). The stored hash is compared in constant time; an unknown id is compared
    against a dummy hash, so both take the same work."""

    found = _TOKEN.fullmatch(token) if isinstance(token, str) and len(token) <= 200 else None
    if found is None:
        return None
    with store._read() as connection:
        row = connection.execute(_COLUMNS.where(ApiKey.id == found.group(1))).one_or_none()
    expected = row.token_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(hash_token(token), expected)
    if row is None or not matches or row.revoked_at is not None:
        return None
    return _info(row)


class KeyRing:
    """The keys a server checks requests against: `configured` (cached: once true it stays
    true; false is asked again after `CONFIGURED_RECHECK_S`) and `authenticate` (always
    read from the database, so a revocation applies to the next request)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._configured = False
        self._checked_at = float("-inf")

    def known(self) -> bool | None:
        """`configured` when the cached answer still holds, else None (ask the database)."""
        with self._lock:
            if self._configured:
                return True
            if time.monotonic() - self._checked_at < CONFIGURED_RECHECK_S:
                return False
            return None

    def configured(self) -> bool:
        """Whether requests need a key (any key was ever created)."""
        cached = self.known()
        if cached is not None:
            return cached
        found = keys_exist(self.store)
        with self._lock:
            self._configured = self._configured or found
            self._checked_at = time.monotonic()
            return self._configured

    def authenticate(self, token: str) -> ApiKeyInfo | None:
        """See the module function `authenticate`."""
        return authenticate(self.store, token)

    def create(self, tenant: str | None, **options: object) -> tuple[ApiKeyInfo, str]:
        """`create_key` through this ring (its requests need keys from now on)."""
        created = create_key(self.store, tenant, **options)  # type: ignore[arg-type]
        with self._lock:
            self._configured = True
        return created


__all__ = [
    "CONFIGURED_RECHECK_S",
    "TOKEN_PREFIX",
    "ApiKeyInfo",
    "KeyRing",
    "authenticate",
    "check_prefixes",
    "create_key",
    "get_key",
    "hash_token",
    "keys_exist",
    "list_keys",
    "revoke_key",
]
