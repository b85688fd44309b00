"""OKX v5's request security as `apps/paper/wire/okx_signing.py` checks it: OKX's documented
prehash (timestamp + METHOD + requestPath with its query + body, HMAC-SHA256, base64), the 30 s
window, the passphrase, the websocket `login`, and OKX's codes; and the headers CCXT's own
`okx.sign` makes pass."""

from __future__ import annotations

import base64
import hashlib
import hmac

import ccxt
import pytest

from apps.paper.wire.okx_signing import OkxError, iso_ms, sign, verify, verify_login

#: OKX's documentation's example secret, timestamp and set-leverage body
KEY, SECRET, PASSPHRASE = "okx-key", "22582BD0CFF14C41EDBF1AB98506286D", "phrase1"
STAMP = "2020-12-08T09:08:57.715Z"
NOW = 1607418537715
BODY = '{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}'


def secret_of(key: str) -> str | None:
    return SECRET if key == KEY else None


def passphrase_of(key: str) -> str | None:
    return PASSPHRASE if key == KEY else None


def documented(prehash: str, secret: str = SECRET) -> str:
    """OKX's documented signature, computed here on its own."""
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256)
                            .digest()).decode()  # fmt: skip


def headers(signature: str, stamp: str = STAMP, key: str = KEY,
            passphrase: str = PASSPHRASE) -> dict[str, str]:  # fmt: skip
    return {"ok-access-key": key, "ok-access-sign": signature, "ok-access-timestamp": stamp,
            "ok-access-passphrase": passphrase}  # fmt: skip


def refused(*args: object) -> int:
    with pytest.raises(OkxError) as excinfo:
        verify(*args)  # type: ignore[arg-type]
    assert excinfo.value.status == 401
    return excinfo.value.code


def test_the_documented_prehash() -> None:
    assert iso_ms(STAMP) == NOW
    assert sign(SECRET, STAMP + "POST/api/v5/account/set-leverage" + BODY) == documented(
        STAMP + "POST/api/v5/account/set-leverage" + BODY)
    post = headers(documented(STAMP + "POST/api/v5/account/set-leverage" + BODY))
    assert verify("POST", "/api/v5/account/set-leverage", "", BODY, post, secret_of,
                  passphrase_of, NOW) == KEY  # fmt: skip
    get = headers(documented(STAMP + "GET/api/v5/account/balance?ccy=BTC"))
    assert verify("GET", "/api/v5/account/balance", "ccy=BTC", "", get, secret_of,
                  passphrase_of, NOW + 29_000) == KEY  # fmt: skip


def test_okx_codes() -> None:
    good = documented(STAMP + "GET/api/v5/account/balance")
    args = ("GET", "/api/v5/account/balance", "", "")
    assert refused(*args, {**headers(good), "ok-access-key": ""}, secret_of, passphrase_of,
                   NOW) == 50103  # fmt: skip
    assert refused(*args, headers(good, passphrase=""), secret_of, passphrase_of, NOW) == 50104
    assert refused(*args, headers(""), secret_of, passphrase_of, NOW) == 50106
    assert refused(*args, headers(good, stamp=""), secret_of, passphrase_of, NOW) == 50107
    assert refused(*args, headers(good, stamp="1607418537"), secret_of, passphrase_of,
                   NOW) == 50112  # fmt: skip
    assert refused(*args, headers(good, key="other"), secret_of, passphrase_of, NOW) == 50111
    assert refused(*args, headers(good), secret_of, passphrase_of, NOW + 30_001) == 50102
    assert refused(*args, headers(good), secret_of, passphrase_of, NOW - 30_001) == 50102
    assert refused(*args, headers(good, passphrase="guess"), secret_of, passphrase_of,
                   NOW) == 50105  # fmt: skip
    assert refused(*args, headers(documented("x")), secret_of, passphrase_of, NOW) == 50113
    # the query is part of the signed path
    assert refused("GET", "/api/v5/account/balance", "ccy=BTC", "", headers(good), secret_of,
                   passphrase_of, NOW) == 50113  # fmt: skip


def test_ccxt_signs_what_the_venue_checks() -> None:
    exchange = ccxt.okx({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE})
    exchange.urls["api"]["rest"] = "http://127.0.0.1:1"
    exchange.nonce = lambda: NOW
    for method, params in (("GET", {"instType": "SWAP", "instId": "BTC-USDT-SWAP"}),
                           ("POST", {"instId": "BTC-USDT", "lever": "5", "mgnMode": "isolated"})):
        path = "account/positions" if method == "GET" else "account/set-leverage"
        signed = exchange.sign(path, "private", method, dict(params))
        url = signed["url"].removeprefix("http://127.0.0.1:1")
        request_path, _, query = url.partition("?")
        lowered = {k.lower(): v for k, v in signed["headers"].items()}
        assert verify(method, request_path, query, signed["body"] or "", lowered, secret_of,
                      passphrase_of, NOW) == KEY  # fmt: skip


def test_websocket_login() -> None:
    seconds = str(NOW // 1000)

    def login(stamp: str = seconds, key: str = KEY, passphrase: str = PASSPHRASE,
              secret: str = SECRET) -> list[dict[str, str]]:  # fmt: skip
        return [{"apiKey": key, "passphrase": passphrase, "timestamp": stamp,
                 "sign": documented(stamp + "GET/users/self/verify", secret)}]  # fmt: skip

    def code(args: object, now: int = NOW) -> int:
        with pytest.raises(OkxError) as excinfo:
            verify_login(args, secret_of, passphrase_of, now)
        return excinfo.value.code

    assert verify_login(login(), secret_of, passphrase_of, NOW) == KEY
    assert code(login(), NOW + 31_000) == 60006
    assert code(login(key="other")) == 60005
    assert code(login(passphrase="guess")) == 60024
    assert code(login(secret="0" * 32)) == 60007
    assert code(login(stamp="soon")) == 60004
    assert code({"apiKey": KEY}) == 60012
