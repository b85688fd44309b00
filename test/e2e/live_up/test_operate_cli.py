"""The operator CLI against a real API and worker (`ccxt-oms up`): JSON and table output,
one-line errors, profiles, the websocket `watch`."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from apps.cli.main import app

from .conftest import Running, clean_env

# the first test starts `ccxt-oms up` (module fixture): on a loaded machine that takes minutes
pytestmark = pytest.mark.timeout(900)

runner = CliRunner()


def cli(running: Running, *args: str, key: str | None = None, **env: str) -> Any:
    environ = {"OMS_BASE_URL": running.base_url, "OMS_API_KEY": key or running.trader_key}
    environ.update(env)
    return runner.invoke(app, list(args), env=environ)


def ok_json(running: Running, *args: str, **env: str) -> Any:
    result = cli(running, *args, **env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def table(running: Running, *args: str) -> str:
    result = cli(running, *args, "--table")
    assert result.exit_code == 0, result.stderr
    return str(result.stdout)


def one_line_error(result: Any, code: int) -> str:
    assert result.exit_code == code, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


def acct(running: Running) -> str:
    return str(running.account_id)


def send(running: Running, *args: str) -> dict[str, Any]:
    body = ok_json(
        running, "send-order", "--account-id", acct(running), "--symbol", "BTC/USDT", *args
    )
    item: dict[str, Any] = body["results"][0]
    assert item["ok"], item
    assert item["status"] == "completed"
    return item


def open_positions(running: Running) -> list[dict[str, Any]]:
    return list(ok_json(running, "positions-open", "--account-ids", acct(running))["items"])


def test_health_and_accounts(running: Running) -> None:
    assert ok_json(running, "healthz")["status"] == "ok"
    text = table(running, "healthz")
    assert "db_engine" in text
    assert "sqlite" in text
    accounts = ok_json(running, "list-accounts")["items"]
    assert [(a["id"], a["exchange_id"]) for a in accounts] == [(running.account_id, "paper")]
    text = table(running, "list-accounts")
    assert "position_mode" in text
    assert "hedge" in text


def test_orders_positions_deals_stats(running: Running) -> None:
    price = ok_json(running, "paper-price", "--symbol", "BTC/USDT", "--price", "50000")
    assert price["price"] == "50000"
    filled = send(running, "--side", "buy", "--qty", "0.01", "--strategy-id", "0")
    positions = open_positions(running)
    assert [(p["symbol"], p["side"], p["qty"]) for p in positions] == [("BTC/USDT", "buy", "0.01")]
    text = table(running, "positions-open")
    assert "position_id" in text
    assert "BTC/USDT" in text
    assert "0.01" in text
    # a resting limit order, changed, then canceled
    resting = send(
        running, "--side", "buy", "--qty", "0.02", "--order-type", "limit", "--price", "40000"
    )
    orders = ok_json(running, "orders-open")["items"]
    assert [(o["order_id"], o["price"]) for o in orders] == [(resting["order_id"], "40000")]
    assert "40000" in table(running, "orders-open")
    changed = ok_json(running, "change-order", "--account-id", acct(running),
                      "--order-id", str(resting["order_id"]), "--new-price", "41000")  # fmt: skip
    assert changed["results"][0]["ok"], changed
    assert [o["price"] for o in ok_json(running, "orders-open")["items"]] == ["41000"]
    open_id = ok_json(running, "orders-open")["items"][0]["order_id"]
    canceled = ok_json(
        running, "cancel-order", "--account-id", acct(running), "--order-id", str(open_id)
    )
    assert canceled["results"][0]["ok"], canceled
    assert ok_json(running, "orders-open")["items"] == []
    history = ok_json(running, "orders-history", "--days-back", "1", "--all", "--page-size", "1")
    assert filled["order_id"] in {o["order_id"] for o in history["items"]}
    assert history["total"] == len(history["items"]) >= 2
    text = table(running, "orders-history", "--days-back", "1")
    assert "FILLED" in text
    assert "CANCELED" in text
    deals = ok_json(running, "deals", "--order-id", str(filled["order_id"]))["items"]
    assert [(d["qty"], d["price"]) for d in deals] == [("0.01", "50000")]
    assert "deal_id" in table(running, "deals")
    stats = ok_json(running, "stats", "--days-back", "1")["items"][0]
    assert stats["account_id"] == running.account_id
    assert stats["open_positions"] >= 1
    assert "total_positions" in table(running, "stats", "--days-back", "1")


def test_close_by_merge_and_close(running: Running) -> None:
    ok_json(running, "paper-price", "--symbol", "ETH/USDT", "--price", "3000")
    eth = ("--symbol", "ETH/USDT")

    def eth_positions() -> list[dict[str, Any]]:
        return [p for p in open_positions(running) if p["symbol"] == "ETH/USDT"]

    for side, qty in (("buy", "1"), ("buy", "2"), ("sell", "1")):
        body = ok_json(running, "send-order", "--account-id", acct(running), *eth,
                       "--side", side, "--qty", qty)  # fmt: skip
        assert body["results"][0]["ok"], body
    by_side = {(p["side"], p["qty"]): p["position_id"] for p in eth_positions()}
    assert set(by_side) == {("buy", "1"), ("buy", "2"), ("sell", "1")}
    merged = ok_json(running, "merge-positions", "--account-id", acct(running),
                     "--source-position-id", str(by_side["buy", "1"]),
                     "--target-position-id", str(by_side["buy", "2"]))  # fmt: skip
    assert merged["results"][0]["ok"], merged
    assert sorted((p["side"], p["qty"]) for p in eth_positions()) == [("buy", "3"), ("sell", "1")]
    text = table(running, "close-by", "--account-id", acct(running),
                 "--position-id-a", str(by_side["buy", "2"]),
                 "--position-id-b", str(by_side["sell", "1"]))  # fmt: skip
    assert "completed" in text
    assert [(p["side"], p["qty"]) for p in eth_positions()] == [("buy", "2")]
    text = table(running, "close-position", "--account-id", acct(running),
                 "--position-id", str(by_side["buy", "2"]))  # fmt: skip
    assert "completed" in text
    assert eth_positions() == []
    assert "merged" in {
        p["state"] for p in ok_json(running, "positions-history", "--state", "merged")["items"]
    }


def test_strategies(running: Running) -> None:
    created = ok_json(
        running, "create-strategy", "--name", "grid-cli", "--account-ids", acct(running)
    )
    assert created["ok"] is True
    strategies = ok_json(running, "list-strategies")["items"]
    assert created["strategy_id"] in {s["strategy_id"] for s in strategies}
    assert "grid-cli" in table(running, "list-strategies")


def test_reconcile_and_reassign_call_the_specified_paths(running: Running) -> None:
    answer = ok_json(running, "reconcile", "--account-id", acct(running))
    assert answer["ok"] is True
    assert answer["account_ids"] == [running.account_id]
    status = ok_json(running, "reconcile-status", "--account-id", acct(running))
    assert status["items"][0]["account_id"] == running.account_id
    # a trader may reconcile but not reassign (portfolio managers do)
    line = one_line_error(cli(running, "reassign-position", "--account-id", acct(running),
                              "--order-ids", "1", "--target-strategy-id", "0"), 2)
    assert "403 permission_denied" in line
    assert "reassign" in line
    assert "portfolio_manager" in line  # the role that may: no flag of set-permission helps
    assert "set-permission" not in line


def test_paper_external_is_admin_only(running: Running) -> None:
    args = ("paper-external", "--account-id", acct(running), "--action", "create_order",
            "--symbol", "BTC/USDT", "--side", "buy", "--amount", "0.001")
    line = one_line_error(cli(running, *args), 2)
    assert "admin_required" in line
    placed = ok_json(running, *args, OMS_API_KEY=running.admin_key)
    assert placed["ok"] is True
    assert placed["result"]["status"] == "closed"
    assert ok_json(running, "reconcile", "--account-id", acct(running))["runs"][0]["ok"] is True
    # the order placed behind the OMS's back is in its books now, as an external order: created
    # by this run, or by a scheduled one that came first (the schedule runs every account)
    history = ok_json(running, "orders-history", "--days-back", "1", "--all")["items"]
    external = [o for o in history if o["exchange_order_id"] == str(placed["result"]["id"])]
    assert [o["reason"] for o in external] == ["external"], external


def test_errors_are_one_line_with_the_fix(running: Running) -> None:
    line = one_line_error(cli(running, "list-accounts", key="oms_not_a_key"), 2)
    assert "invalid_api_key" in line
    assert "create-api-key" in line
    line = one_line_error(cli(running, "list-accounts", OMS_API_KEY=""), 2)
    assert "--api-key" in line
    line = one_line_error(
        cli(running, "send-order", "--account-id", acct(running), "--symbol", "BTC/USDT",
            "--side", "buy", "--qty", "-1"), 2)  # fmt: skip
    assert "validation_error" in line
    assert "qty" in line
    line = one_line_error(cli(running, "positions-open", "--account-ids", "999"), 2)
    assert "list-accounts" in line
    line = one_line_error(cli(running, "healthz", "--base-url", "http://127.0.0.1:9"), 3)
    assert "ccxt-oms up" in line
    line = one_line_error(cli(running, "deals", "--start-date", "2026-01-01"), 2)
    assert "--end-date" in line


def test_profile_file(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(
        f'[profiles.ops]\nbase_url = "{running.base_url}"\napi_key = "{running.admin_key}"\n'
    )
    result = runner.invoke(
        app, ["list-accounts", "--profile", "ops"], env={"OMS_PROFILE_FILE": str(path)}
    )
    assert result.exit_code == 0, result.stderr
    assert [a["id"] for a in json.loads(result.stdout)["items"]] == [running.account_id]
    result = runner.invoke(
        app, ["list-accounts", "--profile", "nope"], env={"OMS_PROFILE_FILE": str(path)}
    )
    assert "[profiles.nope]" in one_line_error(result, 2)


def test_every_operator_command_help_has_an_example() -> None:
    from apps.cli import books_commands, read_commands, trade_commands

    names = [*trade_commands.COMMANDS, *read_commands.COMMANDS, *books_commands.COMMANDS, "watch"]
    for name in names:
        result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, name
        assert "Example: ccxt-oms " in result.stdout, name


def _watch(running: Running, *args: str) -> subprocess.Popen[str]:
    env = clean_env(OMS_BASE_URL=running.base_url, OMS_API_KEY=running.trader_key)
    return subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "watch", "--account-ids", acct(running), *args],
        cwd=running.cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_watch_streams_snapshot_then_live_events(running: Running) -> None:
    proc = _watch(running)
    assert proc.stdout is not None
    try:
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        sent = False
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            seen.append(json.loads(line))
            if seen[-1].get("event") == "snapshot_done" and not sent:
                send(running, "--side", "buy", "--qty", "0.001")
                sent = True
            if {"order_filled", "deal_created"} <= {m.get("event") for m in seen}:
                break
        events = [m.get("event") for m in seen]
        assert events[:2] == ["connected", "subscribed"]
        assert "snapshot_open_positions" in events
        assert "order_filled" in events
        assert "deal_created" in events
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def test_watch_table_shows_open_positions_and_orders(running: Running) -> None:
    ok_json(running, "paper-price", "--symbol", "BTC/USDT", "--price", "50000")
    resting = send(
        running, "--side", "sell", "--qty", "0.003", "--order-type", "limit", "--price", "90000"
    )
    proc = _watch(running, "--table", "--max-events", "3")  # the three snapshot pushes
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "open positions" in out
    assert "open orders" in out
    assert "90000" in out
    assert "BTC/USDT" in out
    assert "snapshot_done" in out
    cancel = ok_json(running, "cancel-order", "--account-id", acct(running),
                     "--order-id", str(resting["order_id"]))  # fmt: skip
    assert cancel["results"][0]["ok"]


# Regression (issue 36, item 6): one `--table` for every command, in both spellings, tables that
# fit the terminal (no cell holding a Python repr, nothing wider than COLUMNS).
LISTINGS: dict[str, tuple[str, ...]] = {
    "orders-open": (), "positions-open": (), "orders-history": ("--days-back", "1"),
    "deals": (), "positions-history": (), "stats": ("--days-back", "1"), "portfolio": (),
    "list-accounts": (), "list-strategies": (), "healthz": (), "dispatcher-status": (),
    "reconcile-status": (), "paper-source": (),
    # straight to the store
    "list-users": (), "list-api-keys": (), "show-permissions": ("--api-key-id", "2"),
    "admin-list-strategies": (), "audit": ("--limit", "5"),
    "list-allocations": ("--account-id", "1"),
}  # fmt: skip
NOT_LISTINGS = {
    "generate-master-key", "encrypt", "api", "worker", "up", "install", "create-user",
    "create-api-key", "add-account", "upsert-account-credentials", "set-account-testnet",
    "set-permission", "rotate-master-key", "update-user", "disable-api-key", "enable-api-key",
    "expire-api-key", "rotate-api-key", "grant-function", "revoke-function",
    "admin-create-strategy", "allow-new-positions", "set-account-status", "set-signal-secret",
    "set-shadow", "db", "send-order", "change-order", "cancel-order", "cancel-all-orders",
    "close-position", "close-by", "merge-positions", "set-targets", "create-strategy",
    "reconcile", "reassign-position", "paper-price", "paper-external", "paper-book", "watch",
    "set-allocation",
    # command groups: `risk` (kill switch, halts, breakers, exposure) and `venue` (a local
    # exchange at the wire), each with its own tests
    "risk", "venue",
}  # fmt: skip
WIDTH = 80


def _fits(text: str, what: str) -> None:
    assert text.strip(), what
    assert "┃" in text or "│" in text, (what, text)  # a rich table, not JSON or key/value lines
    assert "{'" not in text, (what, text)  # no Python repr in a cell
    assert "[{" not in text, (what, text)
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not too_wide, (what, too_wide)


def test_every_listing_command_prints_tables_that_fit_both_spellings(running: Running) -> None:
    from typer.main import get_command

    assert set(get_command(app).commands) == set(LISTINGS) | NOT_LISTINGS  # type: ignore[attr-defined]
    send(running, "--side", "buy", "--qty", "0.001")  # something in every book
    store = f"sqlite+aiosqlite:///{running.cwd / 'data' / 'oms.sqlite3'}"
    env = {"COLUMNS": str(WIDTH), "OMS_DATABASE_URL": store}
    for name, args in LISTINGS.items():
        key = running.admin_key if name == "dispatcher-status" else None
        for argv in ([name, *args, "--table"], ["--table", name, *args]):
            result = cli(running, *argv, key=key, **env)
            assert result.exit_code == 0, (argv, result.stderr)
            _fits(result.stdout, " ".join(argv))


def test_portfolio_table_has_mark_price_and_unrealised_pnl(running: Running) -> None:
    send(running, "--side", "buy", "--qty", "0.001")
    text = table(running, "portfolio")
    for column in ("mark_price", "unrealized_pnl", "balances"):
        assert column in text, text


def test_watch_table_in_both_spellings_fits_80_columns(running: Running) -> None:
    for args in (["--table", "watch"], ["watch", "--table"]):
        env = clean_env(OMS_BASE_URL=running.base_url, OMS_API_KEY=running.trader_key,
                        COLUMNS=str(WIDTH))  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "apps.cli", *args, "--account-ids", acct(running),
             "--max-events", "3"],
            cwd=running.cwd, env=env, text=True, capture_output=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "open positions" in proc.stdout, args  # a live table, not JSON lines
        assert not proc.stdout.lstrip().startswith("{"), args
        _fits(proc.stdout, " ".join(args))


def test_send_order_groups_and_their_columns(running: Running) -> None:
    """A bracket (`--bracket-stop-loss`, `--bracket-take-profit PRICE:LIMIT`,
    `--bracket-time-limit`), an OCO
    (`--oco-leg key=value,...`) and an OTO (`--oto-order` as JSON) from the CLI; the open
    orders' table shows who executes each and its group: kind, id and role, from the reads'
    `group_kind` / `group_role`."""
    ok_json(running, "paper-price", "--symbol", "BTC/USDT", "--price", "50000")
    before = {o["order_id"] for o in ok_json(running, "orders-open")["items"]}
    send(running, "--side", "buy", "--qty", "0.01", "--bracket-stop-loss", "45000",
         "--bracket-take-profit", "60000:59900", "--bracket-time-limit", "86400")  # fmt: skip
    exits: dict[str, Any] = {}
    roles = {"stop_loss", "take_profit", "time_limit"}
    deadline = time.monotonic() + 600  # the worker creates the exits after the entry's fill
    while set(exits) != roles and time.monotonic() < deadline:
        time.sleep(0.1)
        exits = {o["reason"]: o for o in ok_json(running, "orders-open")["items"]
                 if o["order_id"] not in before}  # fmt: skip
    assert set(exits) == roles, exits
    sl, tp, timed = exits["stop_loss"], exits["take_profit"], exits["time_limit"]
    assert (timed["order_type"], timed["group_role"], timed["group_id"]) == (
        "market", "time_limit", sl["group_id"])
    assert timed["fire_at"] is not None
    assert (sl["side"], sl["stop_price"], sl["order_type"], sl["emulation"]) == (
        "sell", "45000", "market", "gateway")
    assert (tp["take_profit_price"], tp["price"], tp["order_type"]) == ("60000", "59900", "limit")
    assert sl["group_id"] == tp["group_id"] is not None
    assert sl["parent_order_id"] == tp["parent_order_id"] is not None
    assert (sl["group_kind"], sl["group_role"], tp["group_role"]) == (
        "bracket", "stop_loss", "take_profit")
    text = cli(running, "orders-open", "--table", COLUMNS="300").stdout
    assert "emulation" in text
    assert "gateway" in text
    for role in ("stop_loss", "take_profit"):
        assert f"bracket #{sl['group_id']} · {role}" in text, text

    # an OCO closing the position: a stop and a take-profit leg, both held
    item = send(running, "--side", "sell", "--qty", "0.01", "--reduce-only",
                "--stop-price", "44000", "--oco-leg", "type=market,take_profit_price=61000")
    legs = [o for o in ok_json(running, "orders-open")["items"]
            if o["group_id"] is not None and o["group_id"] != sl["group_id"]]  # fmt: skip
    assert {(o["stop_price"], o["take_profit_price"], o["emulation"]) for o in legs} == {
        ("44000", None, "gateway"), (None, "61000", "gateway")}, legs
    assert item["order_id"] in {o["order_id"] for o in legs}
    assert {(o["group_kind"], o["group_role"]) for o in legs} == {("oco", "leg0"), ("oco", "leg1")}
    text = cli(running, "orders-open", "--table", COLUMNS="300").stdout
    assert f"oco #{legs[0]['group_id']} · leg1" in text, text

    # an OTO: a resting buy whose take-profit child (JSON, a float kept exact) waits for its fill
    item = send(running, "--side", "buy", "--qty", "0.01", "--order-type", "limit", "--price",
                "40000", "--oto-order", '{"type": "limit", "price": 65000.5}')
    parent = next(o for o in ok_json(running, "orders-open")["items"]
                  if o["order_id"] == item["order_id"])  # fmt: skip
    assert parent["group_id"] is not None
    assert parent["emulation"] == "venue"
    history = cli(running, "orders-history", "--days-back", "1", "--all", "--table",
                  COLUMNS="300").stdout  # fmt: skip
    assert f"oto #{parent['group_id']} · entry" in history, history
    assert f"bracket #{sl['group_id']} · entry" in history, history  # the filled entry

    # what the API refuses is its message; a malformed spec never reaches it
    refused = cli(running, "send-order", "--account-id", acct(running), "--symbol", "BTC/USDT",
                  "--side", "buy", "--qty", "0.01", "--oco-leg", "type=market,take_profit_price=1")
    assert refused.exit_code != 0
    assert "oco" in (refused.stdout + refused.stderr).lower()
    bad = cli(running, "send-order", "--account-id", acct(running), "--symbol", "BTC/USDT",
              "--side", "buy", "--qty", "0.01", "--bracket-stop-loss", "45000:")
    assert "--bracket-stop-loss takes PRICE or PRICE:LIMIT" in one_line_error(bad, 2)
    bad = cli(running, "send-order", "--account-id", acct(running), "--symbol", "BTC/USDT",
              "--side", "buy", "--qty", "0.01", "--oto-order", "type")
    assert "--oto-order takes key=value pairs" in one_line_error(bad, 2)

    ok_json(running, "cancel-all-orders", "--account-id", acct(running))
    for p in open_positions(running):
        ok_json(running, "close-position", "--account-id", acct(running),
                "--position-id", str(p["position_id"]))  # fmt: skip
    assert ok_json(running, "orders-open")["items"] == []
