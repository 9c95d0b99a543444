"""Benchmark: duplicate search over 100,000 accounts (target: <= 10 s), with precision/recall
on planted duplicates.

Data: Swedish and Slovak accounts around real towns (gazetteer, weighted by population): names
from owner/place words + trade + legal form, phones, emails, websites, coordinates; 2 % of them
get a planted duplicate (legal form changed or dropped, typo, case/diacritics, word order,
phone in another format, jittered or town-level coordinates, some fields missing).
Ours: ``fieldcrm.geo.dedupe.find_duplicates`` (blocking + vectorised scoring).
Peer, side by side: exhaustive all-pairs name comparison (rapidfuzz ``cdist``, all cores) on a
4,000-account sample, extrapolated quadratically to N; it shows what blocking saves and what
it costs in recall on that sample.
Run: ``.venv/bin/python bench/dedupe.py [N]``. Ends with one JSON line.
"""

from __future__ import annotations

import json
import random
import sys
import time

import numpy as np
from rapidfuzz import fuzz, process

from fieldcrm.geo import gazetteer
from fieldcrm.geo.dedupe import DEFAULT_THRESHOLD, find_duplicates, normalise_name

FIRST = ["Anderssons", "Johanssons", "Karlssons", "Nilssons", "Erikssons", "Larssons", "Olssons", "Perssons", "Svenssons", "Gustafssons", "Lindbergs", "Åkes", "Björns", "Göstas", "Måns", "Öbergs", "Lundqvists", "Nyströms", "Holms", "Berglunds", "Novák", "Horváth", "Kováč", "Varga", "Tóth", "Nagy", "Baláž", "Molnár", "Szabó", "Hudák", "Kráľ", "Šimko", "Mráz", "Polák", "Urban", "Nordic", "Baltic", "Svea", "Norrland", "Väst", "Öst", "Syd", "Nord", "Centrum", "Fjäll", "Sjö", "Skog", "Berg", "Dal", "Älv", "Tatra", "Dunaj", "Váh", "Hron", "Slovan", "Karpaty", "Alfa", "Beta", "Delta", "Omega", "Prima", "Optima", "Stella", "Nova"]
TRADE = ["Bygg", "Måleri", "Rör", "El", "VVS", "Bageri", "Café", "Konditori", "Bil", "Däck", "Frisör", "Blommor", "Städ", "Trädgård", "Transport", "Åkeri", "Maskin", "Data", "Konsult", "Redovisning", "Tandvård", "Optik", "Sport", "Järn", "Färg", "Golv", "Tak", "Stavby", "Pekáreň", "Kaviareň", "Autoservis", "Kvetinárstvo", "Elektro", "Strojárne", "Doprava", "Účtovníctvo", "Reštaurácia", "Lekáreň", "Hotel", "Stolárstvo", "Inštalatérstvo", "Železiarstvo", "Optika", "Farby"]
SUFFIX_SE = ("AB", "AB", "AB", "HB", "KB", "Aktiebolag", "", "")
SUFFIX_SK = ("s.r.o.", "s.r.o.", "spol. s r.o.", "a.s.", "", "")
MAIL = ("gmail.com", "hotmail.com", "outlook.com")


SYLLABLES = ["an", "ber", "bo", "da", "de", "el", "en", "fa", "fi", "ga", "gu", "ha", "he", "in", "ja", "jo", "ka", "ke", "ko", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "ol", "om", "ra", "re", "ri", "ro", "ru", "sa", "se", "si", "so", "sta", "ste", "sto", "ta", "te", "ti", "to", "tu", "va", "ve", "vi", "vo", "za", "ze", "zo", "kra", "pre", "slo", "bra", "dro", "gri"]


def _stems(rng: random.Random, k: int) -> list[str]:
    """Invented surname/brand stems, so that names are as varied as real ones."""
    out: set[str] = set()
    while len(out) < k:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        out.add(word.capitalize() + rng.choice(("", "s", "sson", "ová", "ek", "berg", "ing")))
    return sorted(out)


def _towns(country: str, k: int) -> tuple[list[gazetteer.Place], list[float]]:
    places = list(gazetteer.places(country)[:k])
    return places, [p.population ** 0.7 for p in places]


def _slug(name: str) -> str:
    return "".join(c for c in gazetteer.fold(name) if c.isalnum())[:20] or "firma"


def make_accounts(n: int, seed: int = 11) -> tuple[dict[str, list], set[tuple[str, str]]]:
    """Return columns for n accounts (originals + planted duplicates) and the planted pairs."""
    rng = random.Random(seed)
    towns = {c: _towns(c, 400) for c in ("SE", "SK")}
    n_dup = n // 50
    stems = _stems(rng, max(2_000, n // 2))
    cols: dict[str, list] = {k: [] for k in ("ids", "names", "phones", "emails", "websites", "lats", "lons")}
    used: set[str] = set()
    for i in range(n - n_dup):
        country = "SE" if rng.random() < 0.6 else "SK"
        place = rng.choices(*towns[country])[0]
        words = [rng.choice(stems)]
        if rng.random() < 0.4:
            words.append(rng.choice(FIRST))
        words.append(rng.choice(TRADE))
        if rng.random() < 0.3:
            words.append(place.name)
        while normalise_name(" ".join(words)) in used:  # real names rarely repeat exactly
            words.insert(1, rng.choice(stems))
        used.add(normalise_name(" ".join(words)))
        suffix = rng.choice(SUFFIX_SE if country == "SE" else SUFFIX_SK)
        name = " ".join(words) + (f" {suffix}" if suffix else "")
        slug, cc = _slug(" ".join(words)), country.lower()
        code = "+46" if country == "SE" else "+421"
        cols["ids"].append(f"acc-{i:06d}")
        cols["names"].append(name)
        cols["phones"].append(f"{code} {rng.randint(10, 99)} {rng.randint(100000, 999999)}" if rng.random() < 0.8 else "")
        email_domain = f"{slug}{i}.{cc}" if rng.random() < 0.5 else rng.choice(MAIL)
        local = "info" if "@" not in email_domain and not email_domain.endswith(MAIL) else f"{slug}{i}"
        cols["emails"].append(f"{local}@{email_domain}" if rng.random() < 0.7 else "")
        cols["websites"].append(f"https://www.{slug}{rng.randint(1, 9999)}.{cc}" if rng.random() < 0.5 else "")
        located = rng.random() < 0.9
        cols["lats"].append(rng.gauss(place.lat, 0.03) if located else None)
        cols["lons"].append(rng.gauss(place.lon, 0.05) if located else None)
    planted: set[tuple[str, str]] = set()
    originals = len(cols["ids"])
    for j in range(n_dup):
        k = rng.randrange(originals)
        planted.add((cols["ids"][k], f"dup-{j:06d}"))
        cols["ids"].append(f"dup-{j:06d}")
        cols["names"].append(_mangle(cols["names"][k], rng))
        phone = cols["phones"][k]
        cols["phones"].append(("0" + phone.split(" ", 1)[1].replace(" ", "-") if phone and rng.random() < 0.5
                               else phone) if rng.random() < 0.7 else "")
        r = rng.random()
        cols["emails"].append(cols["emails"][k] if r < 0.4 else "" if r < 0.8 else f"kontakt@{rng.choice(MAIL)}")
        site = cols["websites"][k]
        cols["websites"].append(site.replace("https://www.", "") if site and rng.random() < 0.5 else site)
        lat, lon = cols["lats"][k], cols["lons"][k]
        r = rng.random()
        if lat is None or r < 0.2:
            cols["lats"].append(None)
            cols["lons"].append(None)
        else:
            jitter = 0.0012 if r < 0.8 else 0.02  # ~100 m, or a town-level geocode
            cols["lats"].append(lat + rng.uniform(-jitter, jitter))
            cols["lons"].append(lon + rng.uniform(-jitter, jitter))
    return cols, planted


def _mangle(name: str, rng: random.Random) -> str:
    """Change a name the way people retype it."""
    words = name.split()
    how = rng.choice(("suffix", "typo", "case", "fold", "swap", "typo_suffix"))
    if how in ("suffix", "typo_suffix"):
        if words[-1] in SUFFIX_SE + SUFFIX_SK or words[-1] in ("r.o.", "a.s."):
            words = [w for w in words if w not in ("AB", "HB", "KB", "Aktiebolag", "s.r.o.", "spol.", "s", "r.o.", "a.s.")]
        else:
            words.append(rng.choice(("AB", "s.r.o.")))
    if how in ("typo", "typo_suffix"):
        w = rng.randrange(len(words))
        word = words[w]
        if len(word) > 3:
            p = rng.randrange(1, len(word) - 1)
            op = rng.choice(("swap", "drop", "sub"))
            if op == "swap":
                word = word[:p] + word[p + 1] + word[p] + word[p + 2:]
            elif op == "drop":
                word = word[:p] + word[p + 1:]
            else:
                word = word[:p] + rng.choice("aeiorstn") + word[p + 1:]
            words[w] = word
    text = " ".join(words)
    if how == "case":
        text = text.upper() if rng.random() < 0.5 else text.lower()
    elif how == "fold":
        text = gazetteer.fold(text).title()
    elif how == "swap" and len(words) > 2:
        text = " ".join([words[1], words[0], *words[2:]])
    return text


def _truth(planted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Planted pairs, closed: two duplicates of one original are duplicates of each other too."""
    groups: dict[str, set[str]] = {}
    for original, dup in planted:
        groups.setdefault(original, {original}).add(dup)
    return {tuple(sorted((x, y))) for g in groups.values() for x in g for y in g if x < y}


def _quality(pairs, planted: set[tuple[str, str]]) -> tuple[float, float, int]:
    found = {tuple(sorted((p.a, p.b))) for p in pairs}
    truth = _truth(planted)
    hits = len(found & truth)
    return hits / max(len(found), 1), hits / max(len(truth), 1), len(found)


def _peer(cols: dict[str, list], planted: set[tuple[str, str]], sample: int, n: int) -> dict:
    idx = list(range(sample // 2)) + list(range(len(cols["ids"]) - sample // 2, len(cols["ids"])))
    names = [normalise_name(cols["names"][i]) for i in idx]
    started = time.perf_counter()
    matrix = process.cdist(names, names, scorer=fuzz.token_sort_ratio, workers=-1, dtype=np.uint8)
    seconds = time.perf_counter() - started
    ids = [cols["ids"][i] for i in idx]
    a, b = np.nonzero(np.triu(matrix >= 86, k=1))  # 0.7 × 86 % ≈ the 0.6 threshold, name alone
    found = {tuple(sorted((ids[i], ids[j]))) for i, j in zip(a, b, strict=True)}
    members = set(ids)
    in_sample = {p for p in _truth(planted) if p[0] in members and p[1] in members}
    sub = {k: [cols[k][i] for i in idx] for k in cols}
    ours = find_duplicates(sub["ids"], sub["names"], sub["phones"], sub["emails"], sub["websites"],
                           sub["lats"], sub["lons"])
    ours_found = {tuple(sorted((p.a, p.b))) for p in ours}
    return {
        "peer_sample": sample,
        "peer_sample_seconds": round(seconds, 2),
        "peer_extrapolated_seconds": round(seconds * (n / sample) ** 2, 1),
        "peer_sample_recall_name_only": round(len(found & in_sample) / max(len(in_sample), 1), 3),
        "ours_sample_recall": round(len(ours_found & in_sample) / max(len(in_sample), 1), 3),
        "sample_planted_pairs": len(in_sample),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    t0 = time.perf_counter()
    cols, planted = make_accounts(n)
    print(f"generated {n:,} accounts with {len(planted):,} planted duplicates in {time.perf_counter() - t0:.1f} s")
    started = time.perf_counter()
    pairs = find_duplicates(cols["ids"], cols["names"], cols["phones"], cols["emails"],
                            cols["websites"], cols["lats"], cols["lons"])
    seconds = time.perf_counter() - started
    precision, recall, found = _quality(pairs, planted)
    print(f"ours: {seconds:.2f} s for {n:,} accounts (target <= 10 s); {found:,} pairs >= "
          f"{DEFAULT_THRESHOLD}; precision {precision:.3f}, recall {recall:.3f} on planted pairs")
    peer = _peer(cols, planted, 4_000, n)
    print(f"peer (all-pairs rapidfuzz cdist, names only): {peer['peer_sample_seconds']} s on "
          f"{peer['peer_sample']:,} accounts -> ~{peer['peer_extrapolated_seconds']} s for {n:,} "
          f"(extrapolated n^2); recall on the sample: peer {peer['peer_sample_recall_name_only']}, "
          f"ours {peer['ours_sample_recall']} ({peer['sample_planted_pairs']} planted pairs)")
    print(json.dumps({"bench": "dedupe", "accounts": n, "seconds": round(seconds, 2),
                      "target_seconds": 10, "pairs": found, "planted": len(planted),
                      "precision": round(precision, 3), "recall": round(recall, 3), **peer}))


if __name__ == "__main__":
    main()
