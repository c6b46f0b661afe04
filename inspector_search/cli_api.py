"""The ``serve`` and ``token`` sub-commands (the HTTP API): run the HTTP API over an archive, and manage its tokens.

FastAPI and uvicorn are imported only when ``serve`` runs, so the rest of the command line works
without them.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import socket
import sys
from pathlib import Path

from .api.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from .api.tokens import SCOPES, TokenStore
from .core.archive import CATALOG_FILE, default_archive_folder, open_archive
from .core.errors import NotAnArchiveError

EXIT_ERROR = 1


def add_api_commands(sub: argparse._SubParsersAction, at_least) -> None:  # noqa: ANN001
    """The sub-commands serve and token."""
    defaults = ServerSettings()
    serve = sub.add_parser(
        "serve", help="serve the archive as a JSON HTTP API (see docs/api.md)",
        description="Serve the archive over HTTP: search, photos, history, uploads and imports. Every request "
                    "needs a token from `inspector-search token create`. Binds to 127.0.0.1 unless --host says "
                    "otherwise.")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=at_least(0), default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT}; 0 picks a free one, printed at start)")
    serve.add_argument("--import-folder", dest="import_folders", action="append", type=Path, default=[],
                       metavar="DIR", help="a folder POST /v1/imports may read (repeatable; default: none)")
    serve.add_argument("--cors-origin", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
                       help="allow browser pages of this origin, e.g. https://portal.plant (repeatable; default: "
                            "no CORS)")
    serve.add_argument("--ssl-certfile", type=Path, metavar="PEM", help="serve HTTPS with this certificate")
    serve.add_argument("--ssl-keyfile", type=Path, metavar="PEM", help="the certificate's private key")
    serve.add_argument("--max-request-mb", type=at_least(1), default=defaults.max_request_bytes // 2**20,
                       help=f"largest request body in MiB (default {defaults.max_request_bytes // 2**20})")
    serve.add_argument("--max-pixels", type=at_least(1), default=defaults.max_image_pixels,
                       help=f"largest image accepted, in pixels (default {defaults.max_image_pixels:,})")
    serve.add_argument("--max-jobs", type=at_least(1), default=defaults.max_jobs,
                       help=f"uploads and imports queued or running at once (default {defaults.max_jobs})")
    serve.add_argument("--max-requests", type=at_least(1), default=defaults.max_requests,
                       help=f"requests in progress at once; more get 503 (default {defaults.max_requests})")
    serve.add_argument("--inference-slots", type=at_least(1), default=None,
                       help="searches running the model at once; more wait their turn (default: CPU count)")

    token = sub.add_parser("token", help="create, list or revoke the API's access tokens",
                           description="API tokens are stored hashed in the archive folder (api_tokens.json).")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a new token and print it (shown only once)")
    create.add_argument("--scope", choices=SCOPES, required=True,
                        help="read: search and look up; write: also upload, import and cancel jobs")
    create.add_argument("--name", default="", help="what the token is for, e.g. the calling system")
    listing = actions.add_parser("list", help="list tokens (ids, names, scopes; never the tokens)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = actions.add_parser("revoke", help="revoke a token by its id; it stops working at once")
    revoke.add_argument("token_id", metavar="ID", help="the token's id, from `token list`")


def cmd_token(_archive: None, args: argparse.Namespace) -> int:
    folder = args.archive or default_archive_folder()
    if isinstance(folder, str):  # a shared archive's URL: its tokens live in its local folder
        with open_archive(folder, model=args.model, create=False) as shared:
            folder = shared.folder
    store = TokenStore(folder)
    if args.token_command == "create" and not (folder / CATALOG_FILE).is_file():  # a mistyped --archive
        raise NotAnArchiveError(folder, f"not an Inspector Search archive (it holds no {CATALOG_FILE})")
    if args.token_command == "create":
        record, token = store.create(args.scope, args.name)
        print(token)
        print(f"token {record.id} ({record.scope}) created; it is shown only this once", file=sys.stderr)
    elif args.token_command == "list":
        records = store.records()
        if args.json:
            print(json.dumps([{"id": r.id, "name": r.name, "scope": r.scope, "created": r.created}
                              for r in records], ensure_ascii=False))
        else:
            for r in records:
                print(f"{r.id}  {r.scope:5}  {r.created}  {r.name}")
            if not records:
                print("no tokens (create one with `inspector-search token create --scope read`)")
    else:
        record = store.revoke(args.token_id)
        print(f"revoked token {record.id} ({record.scope}) {record.name}".rstrip())
    return 0


def settings_from(args: argparse.Namespace) -> ServerSettings:
    """The server's settings from ``serve``'s options."""
    return ServerSettings(
        import_folders=tuple(p.absolute() for p in args.import_folders), cors_origins=tuple(args.cors_origins),
        max_request_bytes=args.max_request_mb * 2**20, max_image_pixels=args.max_pixels, max_jobs=args.max_jobs,
        max_requests=args.max_requests, inference_slots=args.inference_slots or os.cpu_count() or 1)


def cmd_serve(_archive: None, args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .api.app import create_app
    except ImportError as exc:
        print(f"inspector-search: error: serve needs FastAPI and uvicorn ({exc}); "
              "install them with: pip install 'inspector-search[api]'", file=sys.stderr)
        return EXIT_ERROR
    if (args.ssl_certfile is None) != (args.ssl_keyfile is None):
        print("inspector-search: error: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return EXIT_ERROR
    for folder in args.import_folders:
        if not folder.is_dir():
            print(f"inspector-search: error: import folder {folder} is not a folder", file=sys.stderr)
            return EXIT_ERROR
    settings = settings_from(args)
    folder = args.archive or default_archive_folder()
    sock = _listening_socket(args.host, args.port)
    with open_archive(folder, model=args.model, threads=1, create=False) as archive:  # local or shared
        archive.warm_up()
        app = create_app(archive, settings)
        config = uvicorn.Config(app, log_level="info" if args.verbose else "warning", access_log=args.verbose,
                                ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile, timeout_keep_alive=30)
        host, port = sock.getsockname()[:2]
        scheme = "https" if args.ssl_certfile else "http"
        shown = f"[{host}]" if ":" in host else host
        print(f"inspector-search: serving {folder} on {scheme}://{shown}:{port}", file=sys.stderr, flush=True)
        if not _is_loopback(host) and args.ssl_certfile is None:
            print(f"inspector-search: warning: serving {host} without TLS: tokens and photos cross the network "
                  "unencrypted (see --ssl-certfile in docs/api.md)", file=sys.stderr, flush=True)
        if not TokenStore(archive.folder).records():
            print("inspector-search: no API tokens yet; every request will be refused until you run "
                  "`inspector-search token create --scope read`", file=sys.stderr, flush=True)
        logging.getLogger("uvicorn.error").setLevel(logging.INFO if args.verbose else logging.WARNING)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn shut down cleanly, then re-raised the Ctrl-C
            uvicorn.Server(config).run(sockets=[sock])
    print("inspector-search: server stopped", file=sys.stderr)
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound socket for ``host:port`` (port 0: a free one), so the real port can be printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections made as soon as the address is printed wait in the backlog
    except OSError as exc:
        sock.close()
        from .core.errors import InspectorSearchError

        raise InspectorSearchError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    sock.set_inheritable(True)
    return sock
