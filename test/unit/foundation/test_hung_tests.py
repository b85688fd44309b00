"""The suite's safety net for a hung async test (test/conftest.py): the test is cancelled where
it waits and fails under its own name, instead of pytest-timeout's alarm raising in another
task (an in-process worker's) while the test waits on for good."""

from __future__ import annotations

import asyncio

import pytest

from test.conftest import _bounded


async def test_a_hung_test_is_cancelled_where_it_waits_and_fails() -> None:
    reached: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            reached.append("its finally ran")  # cancelled: its clean-up runs

    with pytest.raises(pytest.fail.Exception, match="hung: still waiting"):
        await _bounded(hangs, 0.05)()
    assert reached == ["its finally ran"]


async def test_a_timeout_of_the_tests_own_is_its_own_failure() -> None:
    async def times_out() -> None:
        await asyncio.wait_for(asyncio.Event().wait(), 0.01)

    with pytest.raises(TimeoutError):
        await _bounded(times_out, 3600)()


async def test_arguments_and_the_answer_pass_through() -> None:
    async def adds(a: int, *, b: int) -> int:
        return a + b

    assert await _bounded(adds, 3600)(1, b=2) == 3
