"""`ccxt-oms watch`: the websocket stream as JSON lines, or (`--table`) a live table of open
positions and orders kept from the snapshot plus events."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.text import Text
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from apps.cli import tables
from apps.cli.http_client import Api, Target, resolve
from apps.cli.operate import AccountIds, ApiKey, BaseUrl, Profile, account_ids_param
from apps.cli.output import fail, table_mode

OPEN_ORDER = frozenset({"pending_submit", "submitted", "open", "partially_filled", "accepted"})
OPEN_POSITION = frozenset({"open", "close_requested"})


@dataclass
class Book:
    """Open orders and positions as the stream describes them (snapshot, then events)."""

    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    positions: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_event: str = "waiting for the snapshot"
    events: int = 0

    def apply(self, message: dict[str, Any]) -> None:
        event, payload = message.get("event"), message.get("payload") or {}
        if event == "snapshot_open_orders":
            self.orders.update({int(o["order_id"]): o for o in payload.get("items", [])})
        elif event == "snapshot_open_positions":
            self.positions.update({int(p["position_id"]): p for p in payload.get("items", [])})
        if isinstance(payload.get("order"), dict):
            self._keep(self.orders, payload["order"], "order_id", "status", OPEN_ORDER)
        if isinstance(payload.get("position"), dict):
            self._keep(self.positions, payload["position"], "position_id", "state", OPEN_POSITION)
        if message.get("type") == "ws_event" and event != "connected":
            self.events += 1
            self.last_event = (
                f"seq {message.get('seq')}: {event} (account {message.get('account_id')})"
            )

    @staticmethod
    def _keep(
        rows: dict[int, dict[str, Any]],
        obj: dict[str, Any],
        key: str,
        state: str,
        live: frozenset[str],
    ) -> None:
        ident = int(obj.get(key) or obj["id"])
        if str(obj.get(state, "")).lower() in live:
            rows[ident] = obj
        else:
            rows.pop(ident, None)

    def view(self, width: int) -> Group:
        """The live view, fitted to `width` (the terminal's)."""
        return Group(
            tables.item_table(list(self.positions.values()), "positions", "open positions",
                              width),
            tables.item_table(list(self.orders.values()), "orders", "open orders", width),
            Text(f"{self.events} events; last: {self.last_event}", overflow="ellipsis",
                 no_wrap=True),
        )  # fmt: skip


def ws_url(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/ws"
    return "ws://" + base_url.removeprefix("http://") + "/ws"


def open_stream(target: Target, account_ids: list[int], since_seq: int | None) -> ClientConnection:
    headers = {"x-api-key": target.api_key} if target.api_key else {}
    try:
        socket = connect(ws_url(target.base_url), additional_headers=headers, open_timeout=30)
    except (OSError, InvalidStatus, InvalidURI, TimeoutError) as exc:
        fail(
            f"cannot open the websocket at {ws_url(target.base_url)} ({exc}): start the API with"
            " `ccxt-oms up` or pass --base-url",
            3,
        )
    payload: dict[str, Any] = {"account_ids": account_ids, "with_snapshot": since_seq is None}
    if since_seq is not None:
        payload["since_seq"] = since_seq
    socket.send(json.dumps({"id": "watch", "namespace": "position", "action": "subscribe",
                            "payload": payload}))  # fmt: skip
    return socket


def messages(socket: ClientConnection, max_events: int | None, seconds: float | None):  # type: ignore[no-untyped-def]
    """Yield decoded messages until `max_events` pushes, `seconds`, or the socket closes."""
    stop_at = time.monotonic() + seconds if seconds else None
    pushes = 0
    while max_events is None or pushes < max_events:
        timeout = None if stop_at is None else max(0.0, stop_at - time.monotonic())
        try:
            message = json.loads(socket.recv(timeout=timeout))
        except TimeoutError:
            return
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else "closed"
            fail(f"the stream closed: {reason} (code {exc.rcvd.code if exc.rcvd else '?'})", 3)
        if message.get("type") == "ws_response" and not message.get("ok"):
            error = message.get("payload") or {}
            fail(f"{error.get('code')}: {error.get('message')}", 2)
        yield message
        if message.get("type") == "ws_event" and message.get("event") != "connected":
            pushes += 1


def watch(
    account_ids: AccountIds = None,
    since_seq: Annotated[
        int | None, typer.Option("--since-seq", min=0, help="resume after this seq (no snapshot)")
    ] = None,
    max_events: Annotated[
        int | None, typer.Option("--max-events", min=1, help="stop after this many pushes")
    ] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", min=0, help="stop after this long")
    ] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    profile: Profile = None,
) -> None:
    """Follow the websocket stream: JSON lines, or `--table` for a live table of open positions and orders.

    Example: ccxt-oms watch --account-ids 1 --table   (Ctrl-C to stop)
    """
    target = resolve(base_url, api_key, profile)
    api = Api(target)
    try:
        ids = [int(i) for i in account_ids_param(api, account_ids).split(",")]
    finally:
        api.close()
    socket = open_stream(target, ids, since_seq)
    try:
        if table_mode():
            _live(socket, max_events, seconds)
        else:
            for message in messages(socket, max_events, seconds):
                sys.stdout.write(json.dumps(message) + "\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        socket.close()


def _live(socket: ClientConnection, max_events: int | None, seconds: float | None) -> None:
    book = Book()
    out = tables.console()
    with Live(book.view(out.width), console=out, refresh_per_second=4, auto_refresh=False
              ) as live:  # fmt: skip
        for message in messages(socket, max_events, seconds):
            book.apply(message)
            live.update(book.view(out.width), refresh=True)


def register(app: typer.Typer) -> None:
    app.command("watch", rich_help_panel="Operate: reads")(watch)
