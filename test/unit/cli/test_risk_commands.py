"""`ccxt-oms risk kill|lift|halts`: thin HTTP clients of the kill switch, against a stub API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from apps.cli.main import app


class Stub(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, Any, str | None]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.seen.append((self.command, self.path, body, self.headers.get("x-api-key")))
        data = json.dumps({"ok": True, "items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_kill_lift_and_halts_call_the_api(base: str) -> None:
    runner = CliRunner()
    common = ["--base-url", base, "--api-key", "oms_risk"]
    for args in (["risk", "kill", "--scope", "account", "--id", "3", "--reason", "runaway",
                  "--flatten", *common],
                 ["risk", "kill", "--scope", "all", "--reason", "market halt", *common],
                 ["risk", "lift", "--scope", "account", "--id", "3", "--reason", "fixed",
                  *common],
                 ["risk", "halts", *common]):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert Stub.seen == [
        ("POST", "/oms/risk/kill", {"scope": "account", "comment": "runaway", "flatten": True,
                                    "id": 3}, "oms_risk"),
        ("POST", "/oms/risk/kill", {"scope": "all", "comment": "market halt",
                                    "flatten": False}, "oms_risk"),
        ("POST", "/oms/risk/kill/lift", {"scope": "account", "comment": "fixed", "id": 3},
         "oms_risk"),
        ("GET", "/oms/risk/kill", None, "oms_risk"),
    ]


def test_breakers_and_exposure_call_the_api(base: str) -> None:
    runner = CliRunner()
    common = ["--base-url", base, "--api-key", "oms_risk"]
    for args in (["risk", "breakers", "--account-id", "3", *common],
                 ["risk", "lift-breaker", "--account-id", "3", "--strategy-id", "7",
                  "--reason", "reviewed", *common],
                 ["risk", "exposure", "--user-id", "5", *common],
                 ["risk", "exposure", "--user-id", "5", "--gross", "1000", "--reason", "line",
                  *common]):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert Stub.seen == [
        ("GET", "/oms/risk/3/breakers", None, "oms_risk"),
        ("POST", "/oms/risk/3/breakers/lift", {"strategy_id": 7, "comment": "reviewed"},
         "oms_risk"),
        ("GET", "/oms/risk/users/5/exposure", None, "oms_risk"),
        ("PUT", "/oms/risk/users/5/exposure", {"max_gross_exposure": "1000",
                                               "max_net_exposure": None, "comment": "line"},
         "oms_risk"),
    ]
