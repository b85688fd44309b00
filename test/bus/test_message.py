"""The bus message format (docs/events-bus.md): subject, headers, and a body that is the
websocket's push message byte for byte, decoded back to the same event without decoding JSON."""

from __future__ import annotations

import json

import pytest

from apps.api.ws.envelopes import event_text
from apps.oms.bus import message
from apps.oms.store.stream import StreamEvent

DEAL = StreamEvent(42, 7, "position", "deal_created", 3,
                   '{"deal_id":9,"qty":"0.010000000000000000","price":"50000.5"}')
SYSTEM = StreamEvent(43, None, "system", "account_owner_changed", None, '{"x":[1,2]}')


@pytest.mark.parametrize("event", [DEAL, SYSTEM])
def test_round_trip(event: StreamEvent) -> None:
    body = message.body(event)
    assert body.decode() == event_text(event)  # the websocket's push, byte for byte
    assert message.decode(message.headers(event), body) == event


def test_subjects_name_account_namespace_and_event() -> None:
    assert message.subject("oms.events", DEAL) == "oms.events.7.position.deal_created"
    assert message.subject("oms.events", SYSTEM) == "oms.events.none.system.account_owner_changed"
    odd = StreamEvent(1, 1, "posi.tion", "a b>*", None, "{}")
    assert message.subject("p", odd) == "p.1.posi_tion.a_b__"


def test_a_publisher_is_probed_on_a_subject_of_its_worker_id() -> None:
    assert message.presence_subject("oms.wake", "host-1.lan:4321:ab12") == (
        "oms.wake.publisher.host-1_lan_4321_ab12")


def test_headers_carry_the_dedupe_id_and_filters() -> None:
    headers = message.headers(DEAL)
    assert headers[message.MSG_ID] == "42"
    assert (headers[message.ACCOUNT], headers[message.STRATEGY]) == ("7", "3")
    assert message.headers(SYSTEM)[message.ACCOUNT] == ""


def test_money_stays_a_decimal_string() -> None:
    payload = json.loads(message.body(DEAL))["payload"]
    assert payload["qty"] == "0.010000000000000000"
    assert payload["price"] == "50000.5"


@pytest.mark.parametrize(("headers", "body"), [
    (None, b"{}"),
    ({message.SEQ: "x"}, b"{}"),
    (message.headers(DEAL), b'{"id":null}'),
    (message.headers(DEAL), message.body(SYSTEM)),
    (message.headers(DEAL), b"\xff"),
])
def test_malformed_messages_are_refused(headers: dict[str, str] | None, body: bytes) -> None:
    with pytest.raises(message.MalformedMessage):
        message.decode(headers, body)
