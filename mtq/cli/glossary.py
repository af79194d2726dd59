"""``mtq glossary create|list|show|delete``: stored glossaries in PostgreSQL (MTQ_DATABASE_URL)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtq.core.errors import ConfigError
from mtq.core.languages import parse_route
from mtq.core.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    glossary = subparsers.add_parser(
        "glossary", help="store, list, show and delete glossaries (PostgreSQL)",
        description="Stored glossaries for options.glossary_id, per tenant and language pair, "
        "in the PostgreSQL database of MTQ_DATABASE_URL. Creating an existing id stores its "
        "next version; workers use it within MTQ_GLOSSARY_TTL_S, without a restart.",
    )
    actions = glossary.add_subparsers(dest="glossary_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="store a glossary file as the id's next version")
    create.add_argument("id", help="the glossary id jobs name in options.glossary_id")
    create.add_argument("file", help="TSV, CSV or TBX file (- for stdin)")
    create.add_argument("--route", required=True, help="language pair, e.g. en-de")
    create.add_argument("--tenant", default="", help="whose glossary (default: jobs without "
                        "a tenant)")
    create.add_argument("--format", choices=("auto", "tsv", "csv", "tbx"), default="auto")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list glossaries with their current version")
    listing.add_argument("--tenant", help="only this tenant's")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="print a glossary's entries as TSV")
    show.add_argument("id")
    show.add_argument("--tenant", default="")
    show.add_argument("--version", type=int, help="an earlier version (default: current)")
    show.set_defaults(func=run_show)
    delete = actions.add_parser("delete", help="delete a glossary and all its versions")
    delete.add_argument("id")
    delete.add_argument("--tenant", default="")
    delete.set_defaults(func=run_delete)


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.glossaries import admin
    from mtq.core.terms.files import GlossaryFileError, format_of, read_entries

    route = parse_route(args.route)
    name = "stdin.tsv" if args.file == "-" else args.file
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        entries = read_entries(data, format_of(name, args.format), *route)
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from exc
    except GlossaryFileError as exc:
        raise ConfigError(f"{args.file}: {exc}") from exc
    with admin.connect(settings.database_url) as conn:
        info = admin.create(conn, args.tenant, args.id, route, entries, settings.glossary_schema)
    print(f"glossary {info.id} ({info.source_lang}-{info.target_lang}, tenant "
          f"{info.tenant or '-'}) version {info.version}: {info.entries} entries")
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.glossaries import admin

    with admin.connect(settings.database_url) as conn:
        found = admin.listing(conn, args.tenant, settings.glossary_schema)
    for info in found:
        print(f"{info.tenant or '-'}\t{info.id}\t{info.source_lang}-{info.target_lang}\t"
              f"v{info.version}\t{info.entries} entries")
    if not found:
        print("no glossaries", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.glossaries import admin

    with admin.connect(settings.database_url) as conn:
        found = admin.show(conn, args.tenant, args.id, args.version, settings.glossary_schema)
    if found is None:
        print(f"mtq: no glossary {args.id!r} for tenant {args.tenant or '-'}"
              + (f" with version {args.version}" if args.version else ""), file=sys.stderr)
        return 1
    info, entries = found
    print(f"# {info.id} {info.source_lang}-{info.target_lang} tenant {info.tenant or '-'} "
          f"version {info.version}")
    for entry in entries:
        print(f"{entry.source}\t{entry.target}")
    return 0


def run_delete(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.glossaries import admin

    with admin.connect(settings.database_url) as conn:
        gone = admin.delete(conn, args.tenant, args.id, settings.glossary_schema)
    if not gone:
        print(f"mtq: no glossary {args.id!r} for tenant {args.tenant or '-'}", file=sys.stderr)
        return 1
    print(f"deleted glossary {args.id}")
    return 0
