"""Run a platform stand-in: ``python -m credit_sync.standins --profile public --db x.sqlite``.

Credentials come from the environment (``STANDIN_APP_KEY``, ``STANDIN_APP_SECRET``) so they
never show up in ``ps`` output or logs. With ``--port 0`` a free port is chosen; the port the
server listens on is written to ``--ready-file`` once it accepts requests.

``--write-openapi PATH`` writes the contract's OpenAPI document instead of serving.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from starlette.types import Scope

from credit_sync.standins.platform import (
    AUTH_MODES,
    DEFAULT_TOKEN_TTL,
    PROFILES,
    ConnectionAborter,
    create_app,
    write_openapi,
)

ENV_APP_KEY = "STANDIN_APP_KEY"
ENV_APP_SECRET = "STANDIN_APP_SECRET"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m credit_sync.standins",
        description="Stand-in for the provincial credit platform / 信用白银. "
        f"Credentials are read from ${ENV_APP_KEY} and ${ENV_APP_SECRET}.",
    )
    parser.add_argument("--profile", choices=PROFILES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--db", help="SQLite file for accepted records (created if missing)")
    parser.add_argument("--auth", choices=AUTH_MODES, default="token")
    parser.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, metavar="SECONDS")
    parser.add_argument("--ready-file", help="write the listening port here once serving")
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument(
        "--write-openapi", metavar="PATH", help="write the OpenAPI document to PATH and exit"
    )
    args = parser.parse_args(argv)
    if args.write_openapi is None:
        required = (("--profile", args.profile), ("--db", args.db))
        missing = [option for option, value in required if not value]
        if missing:
            parser.error("the following arguments are required: " + ", ".join(missing))
        if args.token_ttl <= 0:
            parser.error("--token-ttl must be positive")
    return args


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def _write_ready_file(path: str, port: int) -> None:
    # Write-then-rename so a reader never sees a partial port number.
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{port}\n", encoding="ascii")
    os.replace(tmp, target)


def _connection_aborter(server: uvicorn.Server) -> ConnectionAborter:
    """Reset the TCP connection a request arrived on (for the ``reset`` fault).

    ASGI gives an app no handle on its connection, so look the connection up among the
    server's live protocol objects by the client address in the request's scope.
    """

    def abort(scope: Scope) -> bool:
        client = scope.get("client")
        if client is None:
            return False
        client = tuple(client)
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) != client:
                continue
            transport = getattr(connection, "transport", None)
            if transport is None:
                return False
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger 0 turns the close into a RST, like a real dropped connection.
                with contextlib.suppress(OSError, AttributeError, NotImplementedError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return True
        return False

    return abort


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_file: str | None, port: int) -> None:
        super().__init__(config)
        self._ready_file = ready_file
        self._port = port

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._ready_file:
            _write_ready_file(self._ready_file, self._port)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m credit_sync.standins``; returns the exit status."""
    args = _parse_args(argv)
    if args.write_openapi is not None:
        write_openapi(args.write_openapi)
        return 0

    app_key = os.environ.get(ENV_APP_KEY, "")
    app_secret = os.environ.get(ENV_APP_SECRET, "")
    if not app_key or not app_secret:
        print(f"error: set {ENV_APP_KEY} and {ENV_APP_SECRET}", file=sys.stderr)
        return 2

    if args.ready_file:
        # A stale file from an earlier run must not look like this server's port.
        Path(args.ready_file).unlink(missing_ok=True)
    app = create_app(
        profile=args.profile,
        db_path=args.db,
        app_key=app_key,
        app_secret=app_secret,
        auth_mode=args.auth,
        token_ttl=args.token_ttl,
    )
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config, args.ready_file, port)
    app.state.connection_aborter = _connection_aborter(server)
    print(
        f"credit-sync stand-in: profile={args.profile} auth={args.auth} "
        f"listening on {args.host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    # On SIGTERM/SIGINT uvicorn shuts down gracefully (the app closes its database), then
    # re-raises the signal, so code after this line only runs on other exits.
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
