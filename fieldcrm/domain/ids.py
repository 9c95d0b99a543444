"""Id types and the UUIDv7 generator used for every synced row."""

from __future__ import annotations

import os
import time
from typing import NewType

AccountId = NewType("AccountId", str)
ContactId = NewType("ContactId", str)
VisitId = NewType("VisitId", str)
TerritoryId = NewType("TerritoryId", str)
UserId = NewType("UserId", str)
SaleId = NewType("SaleId", str)
OpportunityId = NewType("OpportunityId", str)


def new_id() -> str:
    """Return a new UUIDv7 (RFC 9562) as a lowercase string.

    Time-ordered ids keep B-tree inserts local; they are made where the row is born
    and never renumbered (see SYNC.md).
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
