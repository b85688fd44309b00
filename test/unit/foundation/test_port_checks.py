"""`ports.implements`: a runtime-checkable port's isinstance answered once per class."""

from typing import Any

from apps.oms import ports
from apps.oms.ports import FundingVenuePort, MatchingVenuePort, implements


class Plain:
    async def fetch_balance(self, params: Any = None) -> Any: ...


def test_implements_answers_as_isinstance_and_once_per_class() -> None:
    from apps.paper.exchange.venue import PaperVenue

    venue = PaperVenue.__new__(PaperVenue)  # the class decides; no state is needed
    for port in (MatchingVenuePort, FundingVenuePort):
        assert implements(venue, port) is isinstance(venue, port) is True
        assert implements(Plain(), port) is isinstance(Plain(), port) is False
    assert ports._IMPLEMENTS[(PaperVenue, FundingVenuePort)] is True
    assert ports._IMPLEMENTS[(Plain, MatchingVenuePort)] is False
