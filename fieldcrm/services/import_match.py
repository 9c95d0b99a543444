"""Find stored accounts for imported rows: twins of new accounts, and the accounts that
contacts, visits and sales name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldcrm.db.models import AccountRecord
from fieldcrm.geo.dedupe import normalise_name


class AccountIndex:
    """Stored accounts by normalised name + town, email and phone (unique keys only)."""

    def __init__(self, session: Session) -> None:
        self.by_key: dict[tuple[str, str], str | None] = {}
        stmt = select(AccountRecord.id, AccountRecord.name, AccountRecord.city, AccountRecord.email,
                      AccountRecord.phone).where(AccountRecord.deleted.is_(False))
        for row in session.execute(stmt):
            for key in self._keys(row.name, row.city, row.email, row.phone):
                self.by_key[key] = None if key in self.by_key else row.id  # None = ambiguous

    @staticmethod
    def _keys(name: str, city: str, email: str, phone: str) -> list[tuple[str, str]]:
        keys = [("name", f"{normalise_name(name)}|{normalise_name(city or '')}")]
        if email:
            keys.append(("email", email.casefold()))
        if phone:
            keys.append(("phone", phone))
        return keys

    def match(self, record: dict[str, Any]) -> str | None:
        for key in self._keys(record["name"], record.get("city", ""), record.get("email", ""),
                              record.get("phone", "") if record.get("phone_valid") else ""):
            found = self.by_key.get(key)
            if found:
                return found
        return None


class AccountRefs:
    """Resolve the account column of contacts, visits and sales: an id, or a name."""

    def __init__(self, session: Session) -> None:
        self.ids: set[str] = set()
        self.names: dict[str, list[str]] = {}
        stmt = select(AccountRecord.id, AccountRecord.name).where(AccountRecord.deleted.is_(False))
        for row in session.execute(stmt):
            self.ids.add(row.id)
            self.names.setdefault(row.name.strip().casefold(), []).append(row.id)
            loose = normalise_name(row.name)
            if loose != row.name.strip().casefold():
                self.names.setdefault(f"~{loose}", []).append(row.id)

    def resolve(self, ref: str) -> tuple[str | None, str]:
        ref = ref.strip()
        if ref in self.ids:
            return ref, ""
        for key in (ref.casefold(), f"~{normalise_name(ref)}"):
            found = self.names.get(key, [])
            if len(found) == 1:
                return found[0], ""
            if len(found) > 1:
                return None, f"{len(found)} accounts are called {ref!r}; use the account id"
        return None, f"no account called {ref!r}"
