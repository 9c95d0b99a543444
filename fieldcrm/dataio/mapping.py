"""Match import columns to fields by their headers (synonyms + fuzzy), and mapping presets."""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

from fieldcrm.dataio.fields import ENTITIES, FIELDS, field_specs
from fieldcrm.dataio.synonyms import synonyms_for
from fieldcrm.errors import InvalidInput

_NON_WORD = re.compile(r"[\W_]+")
_PREFIXES = (
    "billing", "mailing", "shipping", "primary", "main", "organization", "organisation",
    "company", "account", "person", "deal", "customer", "business", "kund", "foretags",
)
FUZZY_CUTOFF = 85.0


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise_header(text: str) -> str:
    """Return ``text`` folded to lower-case words without diacritics or punctuation."""
    return " ".join(_NON_WORD.sub(" ", _fold(text)).split())


def _compact(text: str) -> str:
    return normalise_header(text).replace(" ", "")


@functools.cache
def _lookup(entity: str) -> dict[str, str]:
    """Compact synonym → field, for the fields of ``entity`` (first field listed wins a clash)."""
    table: dict[str, str] = {}
    for spec in FIELDS[entity]:
        for synonym in synonyms_for(entity, spec.name):
            table.setdefault(_compact(synonym), spec.name)
    return table


@dataclass(frozen=True, slots=True)
class ColumnMatch:
    """What one column was matched to, and how sure the match is (0-100)."""

    column: int
    header: str
    field: str | None
    score: float
    how: str  # "exact", "prefix", "fuzzy", "preset", "user" or "" when unmatched


def _candidate(header: str, entity: str) -> tuple[str | None, float, str]:
    table = _lookup(entity)
    key = _compact(header)
    if not key:
        return None, 0.0, ""
    if key in table:  # the field's own name beats a synonym ("Phone" over "Mobile")
        return table[key], 101.0 if key == table[key].replace("_", "") else 100.0, "exact"
    words = normalise_header(header).split()
    while words and words[0] in _PREFIXES:
        words = words[1:]
        if "".join(words) in table:
            return table["".join(words)], 95.0, "prefix"
    if len(key) < 4:
        return None, 0.0, ""
    best = process.extractOne(key, table.keys(), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if best is None:
        return None, 0.0, ""
    return table[best[0]], float(best[1]) * 0.9, "fuzzy"


def suggest_mapping(headers: list[str] | tuple[str, ...], entity: str) -> list[ColumnMatch]:
    """Return one :class:`ColumnMatch` per column; each field goes to its best-scoring column.

    Raises
    ------
    InvalidInput
        If ``entity`` is unknown.
    """
    field_specs(entity)
    wanted = [(i, h, *_candidate(h, entity)) for i, h in enumerate(headers)]
    taken: set[str] = set()
    chosen: dict[int, ColumnMatch] = {}
    for i, header, name, score, how in sorted(wanted, key=lambda w: (-w[3], w[0])):
        if name is not None and name not in taken:
            taken.add(name)
            chosen[i] = ColumnMatch(i, header, name, score, how)
        else:
            chosen[i] = ColumnMatch(i, header, None, 0.0, "")
    return [chosen[i] for i in range(len(headers))]


def as_mapping(matches: list[ColumnMatch]) -> dict[int, str]:
    """Return column index → field for the matched columns."""
    return {m.column: m.field for m in matches if m.field}


@dataclass(frozen=True, slots=True)
class Preset:
    """A saved mapping and the options that go with a kind of file (JSON on disk)."""

    entity: str
    columns: dict[str, str] = field(default_factory=dict)  # header → field ("" = ignore)
    default_country: str = "SE"
    default_currency: str = "SEK"
    date_order: str = ""  # "DMY", "MDY", "YMD" or "" to detect per column
    decimal: str = ""  # "," or "." or "" to detect per column
    encoding: str = ""
    delimiter: str = ""


def check_mapping(entity: str, mapping: dict[int, str], width: int) -> None:
    """Check a user-edited mapping: known fields, each at most once, columns in range.

    Raises
    ------
    InvalidInput
        Naming the first problem; ``errors`` maps the column to its message.
    """
    specs = field_specs(entity)
    seen: dict[str, int] = {}
    for column, name in mapping.items():
        key = str(column)
        if not 0 <= column < width:
            raise InvalidInput(f"Column {column} does not exist.", {key: "no such column"})
        if name not in specs:
            raise InvalidInput(f"{name!r} is not a field of {entity}.", {key: "unknown field"})
        if name in seen:
            raise InvalidInput(
                f"Field {specs[name].label!r} is mapped twice (columns {seen[name] + 1} and "
                f"{column + 1}).", {key: "mapped twice"},
            )
        seen[name] = column


def apply_preset(headers: list[str] | tuple[str, ...], preset: Preset) -> list[ColumnMatch]:
    """Map ``headers`` with a preset; headers the preset does not know are matched automatically."""
    known = {normalise_header(h): f for h, f in preset.columns.items()}
    auto = suggest_mapping(headers, preset.entity)
    taken = {f for f in known.values() if f}
    result: list[ColumnMatch] = []
    for match in auto:
        key = normalise_header(match.header)
        if key in known:
            name = known[key] or None
            result.append(ColumnMatch(match.column, match.header, name, 100.0 if name else 0.0,
                                      "preset" if name else ""))
        elif match.field and match.field not in taken:
            taken.add(match.field)
            result.append(match)
        else:
            result.append(ColumnMatch(match.column, match.header, None, 0.0, ""))
    return result


def preset_from_mapping(entity: str, headers: list[str] | tuple[str, ...],
                        mapping: dict[int, str], **options: str) -> Preset:
    """Return a preset that records ``mapping`` by header text (unmapped headers are ignored)."""
    columns = {h: mapping.get(i, "") for i, h in enumerate(headers)}
    return Preset(entity=entity, columns=columns, **options)


def save_preset(path: str | os.PathLike[str], preset: Preset) -> None:
    """Write ``preset`` as JSON (UTF-8, readable)."""
    Path(path).write_text(json.dumps(asdict(preset), ensure_ascii=False, indent=2), "utf-8")


def load_preset(path: str | os.PathLike[str]) -> Preset:
    """Read a preset written by :func:`save_preset`.

    Raises
    ------
    InvalidInput
        If the file is missing, not JSON, or names an unknown entity or field.
    """
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"Cannot read the mapping preset {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("entity") not in ENTITIES:
        raise InvalidInput(f"{path} is not a fieldcrm mapping preset (no known 'entity').")
    specs = field_specs(data["entity"])
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise InvalidInput(f"{path}: 'columns' must map headers to fields.")
    bad = [f for f in columns.values() if f and f not in specs]
    if bad:
        raise InvalidInput(f"{path}: unknown field(s) {', '.join(map(repr, bad))}.")
    allowed = set(Preset.__dataclass_fields__)
    options = {k: str(v) for k, v in data.items() if k in allowed and k not in ("entity", "columns")}
    return Preset(entity=data["entity"], columns={str(k): str(v) for k, v in columns.items()},
                  **options)
