"""Enumerations shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class AccountStatus(StrEnum):
    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    FORMER = "former"


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class VisitStatus(StrEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class GeocodeSource(StrEnum):
    """Where a coordinate came from, from most to least precise."""

    MANUAL = "manual"
    ROOFTOP = "rooftop"
    STREET = "street"
    POSTCODE = "postcode"
    TOWN = "town"
    NONE = "none"


class OpportunityStage(StrEnum):
    QUALIFY = "qualify"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"

    @property
    def is_open(self) -> bool:
        return self not in (OpportunityStage.WON, OpportunityStage.LOST)


DEFAULT_OUTCOMES: tuple[str, ...] = (
    "Order taken",
    "Interested",
    "Follow-up needed",
    "Not interested",
    "Nobody there",
    "Service issue",
)

DEFAULT_CADENCE_DAYS: dict[Tier, int] = {Tier.A: 14, Tier.B: 30, Tier.C: 90}
