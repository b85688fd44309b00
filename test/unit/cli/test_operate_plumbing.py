"""Operator CLI plumbing without a server: the watch book, where the key and URL come from."""

from pathlib import Path

import pytest

from apps.cli.http_client import resolve
from apps.cli.tables import group_cell
from apps.cli.watch import Book, ws_url


def push(event: str, **payload: object) -> dict[str, object]:
    return {"type": "ws_event", "event": event, "seq": 1, "account_id": 1, "payload": payload}


def test_book_keeps_open_objects_from_snapshot_and_events() -> None:
    book = Book()
    book.apply(push("snapshot_open_orders", items=[{"order_id": 1, "status": "SUBMITTED"}]))
    book.apply(push("snapshot_open_positions", items=[{"position_id": 5, "state": "open"}]))
    book.apply(push("order_accepted", order={"id": 2, "order_id": 2, "status": "PENDING_SUBMIT"}))
    assert sorted(book.orders) == [1, 2]
    book.apply(push("order_filled", order={"order_id": 2, "status": "FILLED"}))
    book.apply(push("order_canceled", order={"order_id": 1, "status": "CANCELED"}))
    book.apply(push("position_closed", position={"position_id": 5, "state": "closed"}))
    book.apply(push("position_opened", position={"position_id": 6, "state": "open"}))
    assert book.orders == {}
    assert list(book.positions) == [6]
    assert book.events == 7
    assert "position_opened" in book.last_event


def test_group_cell_is_kind_id_and_role() -> None:
    assert group_cell({"group_id": 9, "group_kind": "bracket", "group_role": "stop_loss"}) == (
        "bracket #9 · stop_loss")
    assert group_cell({"group_id": 7}) == "group #7"  # an API that does not send them
    assert group_cell({"order_id": 5, "group_id": None}) == ""


def test_ws_url() -> None:
    assert ws_url("http://h:8000") == "ws://h:8000/ws"
    assert ws_url("https://oms.example") == "wss://oms.example/ws"


def test_flag_beats_environment_beats_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[profiles.default]\nbase_url = "http://p:1/"\napi_key = "from-profile"\n')
    monkeypatch.setenv("OMS_PROFILE_FILE", str(path))
    monkeypatch.delenv("OMS_BASE_URL", raising=False)
    monkeypatch.delenv("OMS_API_KEY", raising=False)
    assert resolve(None, None, None).base_url == "http://p:1"
    assert resolve(None, None, None).api_key == "from-profile"
    monkeypatch.setenv("OMS_API_KEY", "from-env")
    assert resolve(None, None, None).api_key == "from-env"
    assert resolve("http://f:2", "from-flag", None) == resolve("http://f:2", "from-flag", "default")
    assert resolve("http://f:2", "from-flag", None).api_key == "from-flag"
    monkeypatch.setenv("OMS_PROFILE_FILE", str(tmp_path / "missing.toml"))
    assert resolve(None, None, None).base_url == "http://127.0.0.1:8000"
