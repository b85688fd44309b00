"""When an account's task reads prices for its held orders between its full rounds
(`apps/worker/account_task.held_look_due`)."""

from __future__ import annotations

import pytest

from apps.worker.account_task import HELD_EVERY, SYNC_EVERY, held_look_due


@pytest.mark.parametrize(("since", "armed", "prices_in_store", "due"), [
    (HELD_EVERY, True, False, True),  # an exchange account with an armed held order
    (HELD_EVERY * 0.99, True, False, False),  # looked a moment ago
    (HELD_EVERY, False, False, False),  # nothing armed: no ticker requests
    (HELD_EVERY, True, True, False),  # paper: its rounds follow every price move already
])  # fmt: skip
def test_held_orders_look_between_full_rounds(since: float, armed: bool,
                                              prices_in_store: bool, due: bool) -> None:
    assert held_look_due(since, armed, prices_in_store) is due


def test_the_held_look_is_more_frequent_than_the_full_round() -> None:
    assert HELD_EVERY < SYNC_EVERY
