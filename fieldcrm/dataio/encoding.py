"""Guess the text encoding and the delimiter of a CSV export (utf-8/16, cp1252, gb18030, big5...)."""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections import Counter
from itertools import islice

SAMPLE_BYTES = 256 * 1024
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

# Tried in this order when the file is not UTF; the first of equally plausible ones wins.
LEGACY_ENCODINGS: tuple[str, ...] = ("cp1252", "gb18030", "big5", "cp1250", "latin-1")
_CJK_ENCODINGS = frozenset({"gb18030", "big5"})

# Frequent characters of Chinese business text, simplified and traditional: a decoding that
# produces them is more plausible than one that produces rare ideographs (big5 read as gb18030).
_COMMON_HAN = frozenset(
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对"
    "着事其里所去行过家十用发天如然作方成者多日都三小二无同么经法当起与好看学进种将还分此心前面又定"
    "见只主没从們這為來個國時會後對過發從經與學進種將還當點說開問關東車長門電話号號碼区區县縣乡鄉镇"
    "鎮路街道楼樓台臺北京上海广廣州深圳市省新竹高雄华華业業务務联聯络絡备備注註公司有限股份集团團"
    "企科技贸貿易商店址城国家邮郵箱网網站客户戶名称稱系人职職位金额額日期状狀态態币幣别別中心号码"
    "电子件政编編區域電話地號碼姓手机機传傳真部经營销銷售产產品服务行山西东南湖江河"
)
_FINE_SYMBOLS = frozenset("€£°§«»–—‘’‚“”„…·×´¢¥©®±µ¶¿¡\xa0")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x3000 <= o <= 0x30FF
        or 0xFF00 <= o <= 0xFFEF
        or 0x3100 <= o <= 0x312F
    )


def _frequent_region(ch: str, encoding: str) -> bool:
    """Whether ``ch`` lies in the encoding's region of frequent ideographs: GB2312's level 1-2
    hanzi for gb18030 (rows B0-F7), Big5's frequent block (A440-C67E) for big5. Text decoded
    with the wrong one of the two lands outside it much more often."""
    try:
        raw = ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    if len(raw) != 2:
        return False
    if encoding == "big5":
        return 0xA440 <= (raw[0] << 8 | raw[1]) <= 0xC67E
    return 0xB0 <= raw[0] <= 0xF7 and 0xA1 <= raw[1] <= 0xFE


def _penalty(ch: str, before: str, after: str, cjk: str) -> float:
    if ch == "\ufffd" or unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs"):
        return 5.0
    next_to_ascii_letter = (before.isascii() and before.isalpha()) or (
        after.isascii() and after.isalpha()
    )
    if cjk:
        if not _is_cjk(ch):
            return 1.0
        rare = 0.0
        if 0x3400 <= ord(ch) <= 0x9FFF:
            rare = (0.0 if ch in _COMMON_HAN else 0.25) + (0.0 if _frequent_region(ch, cjk) else 0.5)
        return rare + (1.0 if next_to_ascii_letter else 0.0)
    if _is_cjk(ch):
        return 1.0
    if ch.isalpha():
        return 0.0 if next_to_ascii_letter else 0.5
    return 0.2 if ch in _FINE_SYMBOLS else 1.0


def implausibility(text: str, encoding: str) -> float:
    """Return how unlikely ``text`` is as the decoding of a real export (0 = plain, higher = worse)."""
    cjk = encoding if encoding in _CJK_ENCODINGS else ""
    total, count = 0.0, 0
    for match in _NON_ASCII.finditer(text):
        i = match.start()
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        total += _penalty(match.group(), before, after, cjk)
        count += 1
    return total / count if count else 0.0


def _bom_encoding(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(sample: bytes) -> str | None:
    half = max(len(sample) // 2, 1)
    even_nul, odd_nul = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nul > 0.3 * half and even_nul < 0.05 * half:
        return "utf-16-le"
    if even_nul > 0.3 * half and odd_nul < 0.05 * half:
        return "utf-16-be"
    return None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def detect_encoding(data: bytes) -> str:
    """Return the most plausible encoding of ``data`` (a BOM wins; then UTF-8; then a guess).

    Legacy encodings are compared on a sample by how plausible the decoded text looks (letters
    inside words for Latin scripts, common ideographs for Chinese), then checked on the whole file.
    """
    bom = _bom_encoding(data)
    if bom:
        return bom
    sample = data[:SAMPLE_BYTES]
    wide = _utf16_without_bom(sample) if b"\x00" in sample else None
    if wide and _decodes(data, wide):
        return wide
    if _decodes(data, "utf-8"):
        return "utf-8"
    if len(data) > SAMPLE_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # never cut a multi-byte character
    scored: list[tuple[float, int, str]] = []
    for rank, encoding in enumerate(LEGACY_ENCODINGS):
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
        scored.append((implausibility(text, encoding), rank, encoding))
    for _score, _rank, encoding in sorted(scored):
        if _decodes(data, encoding):
            return encoding
    return "latin-1"  # decodes any byte string


def detect_delimiter(text: str) -> str:
    """Return the delimiter among ``, ; TAB |`` that splits the sample most consistently."""
    sample = text[:SAMPLE_BYTES]
    truncated = len(text) > len(sample)
    best: tuple[float, int, int] = (0.0, 0, 0)
    chosen = ","
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            rows = list(islice(csv.reader(io.StringIO(sample), delimiter=delimiter), 200))
        except csv.Error:
            continue
        if truncated and len(rows) > 1:
            rows = rows[:-1]
        counts = [len(r) for r in rows if any(cell.strip() for cell in r)]
        if not counts:
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        key = (round(freq / len(counts), 1), mode, -rank)
        if key > best:
            best, chosen = key, delimiter
    return chosen
