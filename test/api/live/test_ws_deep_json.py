"""Regression over real uvicorn: a deeply nested websocket message gets an error reply and the
connection keeps working (it used to abort the socket without a close frame)."""

from __future__ import annotations

import json

from test.api.live.conftest import Stack, connect


async def test_deep_message_is_an_error_and_the_socket_stays(stack: Stack) -> None:
    client = await connect(stack, stack.trader_key)
    await client.ws.send("[" * 100_000 + "]" * 100_000)
    reply = await client.recv()
    assert reply["ok"] is False
    assert reply["payload"]["code"] == "validation_error"
    nested = {"id": "deep", "namespace": "position", "action": "command",
              "payload": {"account_id": stack.account_id, "command": "send_order",
                          "payload": {"comment": "x"}}}
    text = json.dumps(nested).replace('"x"', "[" * 3000 + "]" * 3000)
    await client.ws.send(text)
    reply = await client.recv()
    assert reply["ok"] is False
    assert reply["payload"]["code"] == "validation_error"
    assert (await client.request("ping"))["event"] == "pong"


async def test_a_frame_that_is_not_json_says_so_once(stack: Stack) -> None:
    """Regression (issue 36, item 7): the reply read "malformed JSON: malformed JSON: …"."""
    client = await connect(stack, stack.trader_key)
    await client.ws.send("{not json")
    reply = await client.recv()
    assert reply["ok"] is False
    assert reply["payload"]["code"] == "validation_error"
    message = reply["payload"]["message"]
    assert message.startswith("malformed JSON: ")
    assert message.count("malformed JSON") == 1, message
    assert (await client.request("ping"))["event"] == "pong"
