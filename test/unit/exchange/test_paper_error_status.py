"""Every refusal class of the paper venue reaches the client with the status of the error table
(docs/api.md → Errors): a refused request is a 4xx, whether the call ran in the API process
(`to_oms_error`) or in the worker and was read back from its command (`status_of`)."""

from __future__ import annotations

import pytest

from apps.oms.exchange.ccxt.error_mapping import status_of, to_oms_error
from apps.paper.domain import errors as paper
from apps.paper.exchange.errors import ccxt_errors

#: the table of docs/api.md: CCXT class → (status, code)
TABLE = {
    "BadSymbol": (422, "unsupported_market"),
    "OrderImmediatelyFillable": (422, "exchange_error"),  # an InvalidOrder
    "InvalidOrder": (422, "exchange_error"),
    "InsufficientFunds": (422, "insufficient_funds"),
    "OrderNotFound": (404, "order_not_found"),
    "BadRequest": (422, "exchange_error"),
}


def _subclasses(klass: type[paper.PaperError]) -> list[type[paper.PaperError]]:
    out = [klass]
    for sub in klass.__subclasses__():
        out += _subclasses(sub)
    return out


@pytest.mark.parametrize("klass", _subclasses(paper.PaperError)[1:], ids=lambda k: k.__name__)
def test_every_paper_refusal_has_the_status_of_the_table(klass: type[paper.PaperError]) -> None:
    with pytest.raises(Exception) as caught, ccxt_errors():  # noqa: PT011 - checked below
        raise klass("refused")
    name = type(caught.value).__name__
    assert name in TABLE, name
    error = to_oms_error(caught.value)
    assert (error.status, error.code) == TABLE[name]
    assert error.details["ccxt_error"] == name
    assert status_of(name) == error.status  # the same status when the worker ran the call


def test_status_of_a_venue_failure_stays_5xx() -> None:
    assert status_of("ExchangeError") == 502
    assert status_of("AuthenticationError") == 502
    assert status_of("NetworkError") == 503
    assert status_of("RequestTimeout") == 504
    assert status_of("RateLimitExceeded") == 429
    assert status_of(None) is None
    assert status_of("NoSuchClass") is None
