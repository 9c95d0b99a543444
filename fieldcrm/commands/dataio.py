"""`fieldcrm import` and `fieldcrm export`: bring a CSV/XLSX in, write CSV/XLSX/GeoJSON out."""

from __future__ import annotations

import argparse
from pathlib import Path

ENTITIES = ("accounts", "contacts", "visits", "sales")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `import` and `export` commands."""
    p = subparsers.add_parser("import", help="import accounts, contacts, visits or sales from CSV/XLSX")
    p.add_argument("file", metavar="FILE", help="a .csv (any common encoding/delimiter) or .xlsx file")
    p.add_argument("--entity", choices=ENTITIES, default="accounts", help="what the rows are (default accounts)")
    p.add_argument("--db", default=argparse.SUPPRESS, help="local database file (default: the app's)")
    p.add_argument("--preset", metavar="P.json", help="a saved column mapping and options")
    p.add_argument("--save-preset", metavar="P.json", help="save the mapping used, to reuse next time")
    p.add_argument("--map", action="append", default=[], metavar="HEADER=FIELD",
                   help="map a column by hand (repeatable; FIELD empty to ignore the column)")
    p.add_argument("--encoding", help="text encoding (default: detected)")
    p.add_argument("--delimiter", help="CSV delimiter, e.g. ';' or 'tab' (default: detected)")
    p.add_argument("--sheet", help="XLSX sheet name (default: the first)")
    p.add_argument("--country", default=None, help="default country for phones and addresses (SE)")
    p.add_argument("--currency", default=None, help="default currency of sales (SEK)")
    p.add_argument("--date-order", choices=("DMY", "MDY", "YMD"), help="date order (default: detected)")
    p.add_argument("--decimal", choices=(",", "."), help="decimal mark (default: detected)")
    p.add_argument("--update", action="store_true", help="update accounts that are already stored")
    p.add_argument("--no-geocode", action="store_true", help="do not place accounts at their town")
    p.add_argument("--dry-run", action="store_true", help="check the file only; write nothing")
    p.add_argument("--rejects", metavar="FILE.csv", help="write the rejected rows and reasons here")
    p.set_defaults(func=run_import)
    e = subparsers.add_parser("export", help="export accounts, contacts, visits or sales")
    e.add_argument("out", metavar="OUT", help="the file to write (.csv, .xlsx or .geojson)")
    e.add_argument("--entity", choices=ENTITIES, default="accounts", help="what to export (default accounts)")
    e.add_argument("--format", choices=("csv", "xlsx", "geojson"), help="default: from OUT's suffix")
    e.add_argument("--db", default=argparse.SUPPRESS, help="local database file (default: the app's)")
    e.set_defaults(func=run_export)


def _db_path(args: argparse.Namespace) -> Path:
    from fieldcrm.config import default_db_path

    return Path(args.db) if getattr(args, "db", None) else default_db_path()


def _mapping(args: argparse.Namespace, table, preset) -> dict[int, str]:  # noqa: ANN001
    from fieldcrm.dataio.mapping import check_mapping, normalise_header
    from fieldcrm.errors import InvalidInput
    from fieldcrm.services.importing import mapping_for

    mapping = mapping_for(table, args.entity, preset)
    by_header = {normalise_header(h): i for i, h in enumerate(table.headers)}
    for item in args.map:
        header, _, name = item.partition("=")
        column = by_header.get(normalise_header(header))
        if column is None:
            raise InvalidInput(f"--map {item!r}: the file has no column {header!r}.")
        mapping = {c: f for c, f in mapping.items() if f != name.strip() and c != column}
        if name.strip():
            mapping[column] = name.strip()
    check_mapping(args.entity, mapping, len(table.headers))
    return mapping


def _options(args: argparse.Namespace, preset):  # noqa: ANN001, ANN202
    from fieldcrm.dataio.validate import Options

    base = preset or None
    return Options(
        default_country=(args.country or (base.default_country if base else "SE")).upper(),
        default_currency=(args.currency or (base.default_currency if base else "SEK")).upper(),
        date_order=args.date_order or (base.date_order if base else ""),
        decimal=args.decimal or (base.decimal if base else ""),
    )


def run_import(args: argparse.Namespace) -> int:
    """Read, map, check and (unless --dry-run) import the file; print what happened."""
    from fieldcrm.dataio.mapping import load_preset, preset_from_mapping, save_preset
    from fieldcrm.dataio.validate import validate_rows
    from fieldcrm.dataio.writers import write_rejects
    from fieldcrm.services.importing import load_table

    preset = load_preset(args.preset) if args.preset else None
    delimiter = "\t" if args.delimiter == "tab" else args.delimiter
    table = load_table(args.file, encoding=args.encoding or (preset.encoding if preset else None) or None,
                       delimiter=delimiter or (preset.delimiter if preset else None) or None,
                       sheet=args.sheet)
    mapping = _mapping(args, table, preset)
    options = _options(args, preset)
    source = f"sheet {table.sheet!r}" if table.sheet else f"{table.encoding}, delimiter {table.delimiter!r}"
    print(f"{Path(args.file).name}: {len(table.rows):,} rows ({source})")
    for column, header in enumerate(table.headers):
        print(f"  {header!r} -> {mapping.get(column, '(ignored)')}")
    if args.save_preset:
        save_preset(args.save_preset, preset_from_mapping(
            args.entity, table.headers, mapping, default_country=options.default_country,
            default_currency=options.default_currency, date_order=options.date_order,
            decimal=options.decimal))
    if args.dry_run:
        checked = validate_rows(table, args.entity, mapping, options=options)
        _print_preview(checked.records[:5])
        rejected, issues = checked.rejected, checked.issues
        done = f"{len(checked.records):,} rows are valid"
    else:
        report = _import(args, table, mapping, options)
        rejected, issues = list(report.rejected), list(report.issues)
        done = (f"{report.created:,} created, {report.updated:,} updated; {report.geocoded:,} placed "
                f"at their town, {report.not_located:,} without a position ({report.seconds:.1f} s)")
    _print_issues(issues)
    print(f"{done}; {len(rejected):,} rejected.")
    if args.rejects and rejected:
        write_rejects(args.rejects, table, rejected, issues)
        print(f"Rejected rows and reasons written to {args.rejects}; fix them and import that file.")
    return 0 if not rejected else 1


def _import(args: argparse.Namespace, table, mapping, options):  # noqa: ANN001, ANN202
    from fieldcrm.db.engine import open_database
    from fieldcrm.services.importing import import_table

    db = open_database(_db_path(args))
    try:
        with db.session() as session:
            return import_table(session=session, table=table, entity=args.entity, mapping=mapping,
                                options=options, update_existing=args.update,
                                geocode=not args.no_geocode)
    finally:
        db.close()


def _print_preview(records: list[dict]) -> None:
    """Show what the first valid rows become."""
    from fieldcrm.dataio.writers import cell_text

    for record in records:
        values = ", ".join(f"{k}={cell_text(v)!r}" for k, v in record.items()
                           if k != "_row" and not k.endswith(("_raw", "_valid")))
        print(f"  row {record['_row']}: {values}")


def _print_issues(issues, limit: int = 20) -> None:  # noqa: ANN001
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity != "error"]
    for issue in errors[:limit]:
        print(f"  error: {issue}")
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit:,} more errors")
    if warnings:
        print(f"  {len(warnings):,} warnings (kept and flagged), e.g. {warnings[0]}")


def run_export(args: argparse.Namespace) -> int:
    """Export one entity to a file."""
    from fieldcrm.db.engine import open_database
    from fieldcrm.errors import InvalidInput
    from fieldcrm.services.exporting import export_entity

    suffixes = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson"}
    fmt = args.format or suffixes.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise InvalidInput(f"Cannot tell the format of {args.out}; add --format csv, xlsx or geojson.")
    db = open_database(_db_path(args))
    try:
        with db.session() as session:
            count = export_entity(session=session, entity=args.entity, path=args.out, fmt=fmt)
    finally:
        db.close()
    print(f"{count:,} {args.entity} written to {args.out}")
    return 0
