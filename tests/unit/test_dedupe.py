"""Duplicate search (blocking, scores, reasons) and the field-by-field merge."""

from __future__ import annotations

import random

import pytest

from fieldcrm.errors import Cancelled
from fieldcrm.geo.dedupe import (
    find_duplicates,
    merge_fields,
    merge_preview,
    normalise_name,
    phone_key,
    web_domain,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Åkes Bageri AB", "akes bageri"), ("ÅKES BAGERI AKTIEBOLAG", "akes bageri"),
        ("Nový Dom, s.r.o.", "novy dom"), ("Nový Dom spol. s r.o.", "novy dom"),
        ("Nový dom s r o", "novy dom"), ("Acme Ltd.", "acme"), ("The Acme Co., Ltd.", "acme"),
        ("Müller GmbH & Co. KG", "muller"), ("华为技术有限公司", "华为技术"),
        ("台積電股份有限公司", "台積電"), ("Konsum Norrbotten ek. för.", "konsum norrbotten"),
    ],
)
def test_normalise_name(name: str, expected: str) -> None:
    assert normalise_name(name) == expected


def test_keys() -> None:
    assert phone_key("+46 90-12 34 56") == phone_key("090-12 34 56") == "90123456"
    assert phone_key("12 34") == ""
    assert web_domain("https://www.Acme.se/kontakt") == "acme.se"
    assert web_domain("", "anna@acme.se") == "acme.se"
    assert web_domain("", "anna@gmail.com") == "" and web_domain("localhost") == ""


ACCOUNTS = {
    "ids": ["a", "b", "c", "d", "e", "f", "g", "h"],
    "names": ["Åkes Bageri AB", "Akes Bageri", "ICA Nära Umeå", "ICA Nära Lund", "Old Name Holding",
              "Old Name AB", "Bageri Åkes", "Åkes Bageri AB"],
    "phones": ["+46 90 12 34 56", "090-12 34 56", "", "", "+46 8 555 123 45", "08-555 123 45", "", ""],
    "emails": ["", "", "", "", "info@old.se", "info@old.se", "", ""],
    "websites": ["", "", "", "", "", "www.old.se", "", ""],
    "lats": [63.8258, 63.8259, 63.82, 55.70, None, None, 63.8258, 55.60],
    "lons": [20.2630, 20.2631, 20.26, 13.19, None, None, 20.2630, 13.00],
}


def _pairs(**overrides):
    columns = {**ACCOUNTS, **overrides}
    return find_duplicates(columns["ids"], columns["names"], columns["phones"], columns["emails"],
                           columns["websites"], columns["lats"], columns["lons"])


def test_duplicates_scores_and_reasons() -> None:
    found = {(p.a, p.b): p for p in _pairs()}
    assert set(found) == {("a", "b"), ("a", "g"), ("b", "g"), ("e", "f")}
    ab = found[("a", "b")]
    assert ab.score == 1.0 and ab.reasons == ("names 100% alike", "same phone", "12 m apart")
    assert found[("e", "f")].reasons == (
        "names 67% alike", "same phone", "same email", "same web domain old.se")
    # Same name 900 km apart ("h") is another shop; chains in two towns are not duplicates.
    assert all("h" not in key and key != ("c", "d") for key in found)
    scores = [p.score for p in _pairs()]
    assert scores == sorted(scores, reverse=True)


def test_sides_limit_pairs_to_import_versus_stored() -> None:
    pairs = find_duplicates(ACCOUNTS["ids"], ACCOUNTS["names"], ACCOUNTS["phones"],
                            lats=ACCOUNTS["lats"], lons=ACCOUNTS["lons"],
                            sides=[0, 1, 0, 0, 0, 0, 0, 0])
    assert {(p.a, p.b) for p in pairs} == {("a", "b"), ("b", "g")}


def test_name_only_input_and_errors() -> None:
    pairs = find_duplicates(["1", "2", "3"], ["Acme AB", "ACME", "Other"])
    assert [(p.a, p.b) for p in pairs] == [("1", "2")]
    assert find_duplicates([], []) == []
    with pytest.raises(ValueError, match="needs 3 values"):
        find_duplicates(["1", "2", "3"], ["a", "b"])
    with pytest.raises(Cancelled):
        find_duplicates(["1"], ["a"], cancelled=lambda: True)


def test_planted_duplicates_are_found_among_many() -> None:
    rng = random.Random(3)
    syllables = ["ka", "lo", "mi", "ne", "ra", "sto", "ve", "ber", "ing", "gra", "plo", "tu", "sa"]
    ids, names, lats, lons, truth = [], [], [], [], set()
    for i in range(3_000):
        name = "".join(rng.choice(syllables) for _ in range(4)).title() + " " + rng.choice(
            ("Bygg", "Bageri", "Optik", "Stavby")) + rng.choice((" AB", " s.r.o.", ""))
        ids.append(str(i))
        names.append(name)
        lats.append(rng.uniform(55, 65))
        lons.append(rng.uniform(12, 22))
    for j in range(100):
        k = rng.randrange(3_000)
        typo = names[k].replace(" AB", "").replace(" s.r.o.", "").upper()
        ids.append(f"d{j}")
        names.append(typo)
        lats.append(lats[k] + 0.0005)
        lons.append(lons[k])
        truth.add((ids[k], f"d{j}"))
    found = {(p.a, p.b) for p in find_duplicates(ids, names, lats=lats, lons=lons)}
    twins = {(x, y) for (o1, x) in truth for (o2, y) in truth if o1 == o2 and x < y}
    assert len(found & truth) >= 98
    assert len(found - truth - twins) <= 3  # near-identical invented names a few km apart


def test_merge_preview_and_merge() -> None:
    a = {"id": "a", "name": "Åkes Bageri AB", "phone": "", "phone_raw": "", "phone_valid": True,
         "email": "ake@bageri.se", "email_valid": True, "tags": ("vip",), "notes": "Likes bread",
         "lat": None, "lon": None, "geocode_source": "none", "row_version": 3}
    b = {"id": "b", "name": "Akes Bageri", "phone": "+4690123456", "phone_raw": "090-12 34 56",
         "phone_valid": True, "email": "", "email_valid": True, "tags": ("north", "vip"),
         "notes": "Closed Mondays", "lat": 63.8, "lon": 20.2, "geocode_source": "rooftop",
         "row_version": 9}
    preview = {m.field: m.choice for m in merge_preview(a, b)}
    assert preview == {"name": "a", "phone": "b", "email": "a", "tags": "both", "notes": "both", "lat": "b"}
    merged = merge_fields(a, b)
    assert merged["id"] == "a" and merged["row_version"] == 3
    assert (merged["phone"], merged["phone_raw"]) == ("+4690123456", "090-12 34 56")
    assert (merged["lat"], merged["lon"], merged["geocode_source"]) == (63.8, 20.2, "rooftop")
    assert merged["tags"] == ("vip", "north") and merged["notes"] == "Likes bread\n\nClosed Mondays"
    chosen = merge_fields(a, b, {"name": "b", "notes": {"value": "Typed"}, "lat": "a"})
    assert chosen["name"] == "Akes Bageri" and chosen["notes"] == "Typed" and chosen["lat"] is None
    assert chosen["geocode_source"] == "none"
    with pytest.raises(ValueError, match="unknown merge choice"):
        merge_fields(a, b, {"name": "c"})
