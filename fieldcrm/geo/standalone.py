"""Choropleth of a metric by territory, and the map exported as one HTML file that opens offline."""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from fieldcrm.errors import FieldCrmError
from fieldcrm.geo.maps import MapPoints, MapTerritory, build_account_map, resources_dir

PALETTE = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")
"""ColorBrewer YlGnBu, 5 classes: light = low, dark = high (colour-blind safe)."""
NO_DATA = "#d9d9d9"
# The exported map has no pins: the pin legend and selection tools would only confuse.
HIDE_PIN_CONTROLS = "<style>#fc-legend, .fc-tools { display: none !important; }</style>"
_SCRIPT_SRC = re.compile(r'<script src="([^"]+)"></script>')
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"/>')
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
_ADMIN1 = re.compile(r'"admin1Url":\s*"[^"]*"')
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".jpg": "image/jpeg"}


@dataclass(frozen=True, slots=True)
class ChoroplethItem:
    """One territory's value; ``value`` None means no data (drawn grey)."""

    id: str
    name: str
    geojson: dict[str, Any]
    value: float | None
    text: str  # the value as the user reads it, e.g. "1 234 SEK" or "78 %"


def class_breaks(values: Sequence[float | None], classes: int = len(PALETTE)) -> list[float]:
    """Upper bounds of up to ``classes`` quantile classes of the finite values (ascending).

    Equal values collapse into one class, so a map where every territory has the same value
    shows one colour, not five.
    """
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not len(v):
        return []
    classes = min(classes, len(np.unique(v)))
    qs = np.quantile(v, np.linspace(0, 1, classes + 1)[1:])
    return sorted({float(q) for q in qs})


def class_color(value: float | None, breaks: Sequence[float]) -> str:
    """The palette colour of ``value`` given ``class_breaks`` (grey for no data)."""
    if value is None or not math.isfinite(value) or not breaks:
        return NO_DATA
    k = next((i for i, b in enumerate(breaks) if value <= b), len(breaks) - 1)
    # Spread fewer classes over the whole palette, so the top class is always the darkest.
    step = (len(PALETTE) - 1) / max(len(breaks) - 1, 1)
    return PALETTE[round(k * step)] if len(breaks) > 1 else PALETTE[len(PALETTE) // 2]


def choropleth_layer(
    items: Sequence[ChoroplethItem], *, title: str, fmt: Callable[[float], str] = "{:,.0f}".format
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A GeoJSON FeatureCollection (``properties.color``/``label``) and its legend.

    The legend is ``{"title", "items": [{"color", "label"}]}`` as ``setChoropleth`` takes it;
    ``fmt`` formats the class bounds.
    """
    breaks = class_breaks([i.value for i in items])
    features = [
        {"type": "Feature", "id": i.id, "geometry": i.geojson,
         "properties": {"name": i.name, "value": i.value, "color": class_color(i.value, breaks),
                        "label": f"{i.name}: {i.text}"}}
        for i in items
    ]  # fmt: skip
    finite = [i.value for i in items if i.value is not None and math.isfinite(i.value)]
    rows, low = [], min(finite) if finite else 0.0
    for b in breaks:
        label = fmt(b) if fmt(low) == fmt(b) else f"{fmt(low)} – {fmt(b)}"
        rows.append({"color": class_color(b, breaks), "label": label})
        low = b
    if len(finite) < len(items):
        rows.append({"color": NO_DATA, "label": "no data"})
    return {"type": "FeatureCollection", "features": features}, {"title": title, "items": rows}


def _script_json(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _local_file(ref: str, base: Path) -> Path:
    parts = urlsplit(ref)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme:
        raise FieldCrmError(f"The map page refers to a remote file ({ref}); cannot inline it.")
    return base / unquote(parts.path)


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css(path: Path) -> str:
    def repl(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith(("#", "data:")):
            return m.group(0)
        target = path.parent / ref
        return f'url("{_data_uri(target)}")' if target.is_file() else "none"

    return "<style>\n" + _CSS_URL.sub(repl, path.read_text("utf-8")) + "\n</style>"


def _inline_js(text: str) -> str:
    # "</script" inside a string of an inlined library would end the element early.
    return "<script>\n" + text.replace("</script", "<\\/script") + "\n</script>"


def _overlay(title: str, subtitle: str) -> str:
    style = ("position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:1000;"
             "background:#fff;padding:6px 12px;border-radius:4px;font:14px system-ui,sans-serif;"
             "box-shadow:0 1px 4px rgba(0,0,0,.35);text-align:center")  # fmt: skip
    sub = f"<br><small>{html.escape(subtitle)}</small>" if subtitle else ""
    return f'<div id="fc-title" style="{style}"><b>{html.escape(title)}</b>{sub}</div>'


def inline_page(page: Path, *, extra_head: str = "", extra_body: str = "") -> str:
    """The HTML of ``page`` with every local script, stylesheet and image embedded.

    Raises
    ------
    FieldCrmError
        If the page refers to a remote script or stylesheet.
    """
    text = page.read_text("utf-8")
    base = page.parent
    text = _SCRIPT_SRC.sub(
        lambda m: _inline_js(_local_file(m.group(1), base).read_text("utf-8")), text)
    text = _STYLESHEET.sub(lambda m: _inline_css(_local_file(m.group(1), base)), text)
    text = text.replace("</head>", extra_head + "\n</head>", 1)
    return text.replace("</body>", extra_body + "\n</body>", 1)


def build_standalone_map(
    *,
    out_path: Path,
    territories: Sequence[MapTerritory],
    feature_collection: dict[str, Any],
    legend: dict[str, Any],
    title: str,
    subtitle: str = "",
    with_regions: bool = True,
    resources: Path | None = None,
) -> Path:
    """Write one self-contained HTML file: the territories filled by a metric, with a legend.

    Leaflet, the map code, the country (and, with ``with_regions``, region) outlines and the
    data are all inside the file, so it opens in any browser with no network and no other
    file. Returns ``out_path``.

    Raises
    ------
    FieldCrmError
        If the map resources are missing or the file cannot be written.
    """
    res = resources or resources_dir()
    with tempfile.TemporaryDirectory(prefix="fieldcrm-export-") as tmp:
        page = build_account_map(points=MapPoints.empty(), territories=territories,
                                 out_dir=Path(tmp), resources=res)  # fmt: skip
        head = _script_json({"fc": feature_collection, "legend": legend})
        hook = HIDE_PIN_CONTROLS + _inline_js(
            f"var fcExport = {head};\n"
            'document.addEventListener("fieldcrm-ready", function () {\n'
            "  window.fieldcrm.setChoropleth(fcExport.fc, fcExport.legend);\n"
            "});"
        )
        if with_regions:
            hook = _inline_js((res / "basemap" / "admin1.js").read_text("utf-8")) + hook
        text = inline_page(page, extra_head=hook, extra_body=_overlay(title, subtitle))
    # The regions are inlined above, so the page must not try to load them from a file.
    text = _ADMIN1.sub('"admin1Url": null', text)
    tmp = out_path.with_name(out_path.name + ".part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out_path)  # never a half-written map where the user looks for it
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FieldCrmError(f"Could not write {out_path}: {exc.strerror or exc}.") from exc
    return out_path
