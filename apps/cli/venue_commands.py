"""`ccxt-oms venue serve`: the paper venue served in an exchange's dialect, as a process of its
own over a store of its own (docs/testnet.md → A local venue)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Annotated, Any

import typer
import uvloop

from apps.paper.wire.fault_plan import FaultPlan, parse_plan
from apps.paper.wire.process import serve
from apps.paper.wire.server import DIALECTS

venue_app = typer.Typer(
    help="A local exchange at the wire (the paper engine in an exchange's dialect).\n\n"
    "Example: ccxt-oms venue serve --dialect binance --port 9100",
    no_args_is_help=True,
)


def _announce(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


@venue_app.command("serve")
def serve_cmd(
    dialect: Annotated[str, typer.Option("--dialect", help=" | ".join(DIALECTS))] = "binance",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="0 = a free port")] = 9100,
    store: Annotated[str | None, typer.Option(
        "--store", help="database URL (default: its own SQLite file venue-<dialect>.sqlite3)"
    )] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    walk_seconds: Annotated[float, typer.Option(
        "--walk-seconds", min=0, help="a random-walk price step every N seconds (0: prices move "
        "only through POST /admin/price)")] = 0,
    faults: Annotated[str | None, typer.Option(
        "--faults", help="start with these injected faults: the JSON of POST /admin/faults, "
        'e.g. \'{"faults": [{"kind": "latency", "ms": 50}]}\' (docs/paper-venue.md)')] = None,
    weight_limit: Annotated[int, typer.Option(
        "--weight-limit", min=0, help="Binance dialects: request weight per minute and client "
        "address past which the venue answers 429, then 418 (0: no limit)")] = 0,
) -> None:  # fmt: skip
    """Serve a venue until SIGTERM/SIGINT; prints ONE JSON line: base URLs and a fresh API key
    and secret of a funded account.

    Example: ccxt-oms venue serve --dialect binance --port 9100
    """
    if dialect not in DIALECTS:
        sys.stderr.write(f"error: unknown dialect {dialect!r}: one of {', '.join(DIALECTS)}\n")
        raise SystemExit(2)
    plan = _plan(faults) if faults else None
    url = store or f"sqlite+aiosqlite:///venue-{dialect}.sqlite3"
    uvloop.run(serve(dialect, port, url, host, _announce, walk_seconds, plan, weight_limit))


def _plan(text: str) -> FaultPlan:
    """`--faults`, read as the admin endpoint reads its body; exit 2 saying what is wrong."""
    try:
        data = json.loads(text, parse_float=Decimal)
        if not isinstance(data, dict):
            raise ValueError("a JSON object is expected")
        return parse_plan(data)
    except ValueError as exc:
        sys.stderr.write(f"error: --faults: {exc}\n")
        raise SystemExit(2) from None


def register(app: typer.Typer) -> None:
    app.add_typer(venue_app, name="venue")
