"""bench/callgrind.py: bench.statement_instructions's pure part (reading callgrind's dumps, the
figures per execution, the medians and ratios, the valgrind command); no valgrind, no gcc."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.callgrind import (
    library_name,
    parse_dump,
    per_execution,
    read_dumps,
    summarise,
    valgrind_command,
)


def dump(trigger: str, summary: int | None = None, totals: int | None = None) -> str:
    lines = ["# callgrind format", "version: 1", "pid: 10056", "part: 1", "",
             "desc: I1 cache: ", "desc: Timerange: Basic block 0 - 10309257",
             f"desc: Trigger: {trigger}", "", "positions: line", "events: Ir"]  # fmt: skip
    if summary is not None:
        lines.append(f"summary: {summary}")
    lines += ["", "fn=(1564) __Pyx_Coroutine_SendEx.isra.0", "26189 1600", "+6 1000"]
    if totals is not None:
        lines.append(f"totals: {totals}")
    return "\n".join(lines) + "\n"


def test_a_toggle_dump_gives_its_loop_and_instructions() -> None:
    text = dump("Client Request: select_1", summary=49050366, totals=49050366)
    assert parse_dump(text) == ("select_1", 49050366)


def test_totals_stand_in_for_a_missing_summary() -> None:
    assert parse_dump(dump("Client Request: constant_direct", totals=81141606)) == (
        "constant_direct",
        81141606,
    )


def test_a_dump_not_made_by_the_toggle_is_none() -> None:
    assert parse_dump(dump("Program termination", summary=123, totals=123)) is None
    assert parse_dump(dump("Client Request: select_1")) is None  # no count
    assert parse_dump("") is None


def test_instructions_per_execution_in_the_dumps_order() -> None:
    found = per_execution([("select_1", 49050366), ("insert_6_rows_direct", 165362047)], 200)
    assert found == {"select_1": 245252, "insert_6_rows_direct": 826810}
    assert list(found) == ["select_1", "insert_6_rows_direct"]


def test_a_loop_dumped_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        per_execution([("select_1", 1), ("select_1", 2)], 1)


def test_the_dumps_of_a_run_are_read_in_part_order(tmp_path: Path) -> None:
    for part, name in [(1, "select_1"), (2, "constant"), (10, "insert_6_rows")]:
        (tmp_path / f"cg.77.{part}").write_text(dump(f"Client Request: {name}", summary=part * 10))
    (tmp_path / "cg.77").write_text(dump("Program termination", summary=5))  # the dump at exit
    (tmp_path / "valgrind.log").write_text("==77== Callgrind\n")
    assert read_dumps(tmp_path) == [("select_1", 10), ("constant", 20), ("insert_6_rows", 100)]


def test_medians_and_ratios_to_the_control() -> None:
    runs = [
        {"select_1": 243500, "constant_direct": 412000, "insert_6_rows_direct": 824600},
        {"select_1": 241600, "constant_direct": 412600, "insert_6_rows_direct": 824600},
        {"select_1": 242000, "constant_direct": 412300},
    ]
    summary = summarise(runs)
    assert summary["instructions_per_execution"] == {"select_1": 242000, "constant_direct": 412300}
    assert summary["per_select_1"] == {"select_1": 1.0, "constant_direct": 1.704}


def test_the_median_of_two_runs_is_their_mean_rounded() -> None:
    summary = summarise([{"select_1": 246000}, {"select_1": 246701}])
    assert summary["instructions_per_execution"] == {"select_1": 246350}


def test_without_the_control_there_are_no_ratios() -> None:
    assert summarise([{"constant": 500000}])["per_select_1"] == {}
    assert summarise([]) == {"instructions_per_execution": {}, "per_select_1": {}}


def test_valgrind_counts_nothing_until_the_toggle_says_so(tmp_path: Path) -> None:
    command = valgrind_command("/usr/bin/valgrind", tmp_path, ["python", "-m", "x"])
    assert command[:4] == ["/usr/bin/valgrind", "--tool=callgrind", "--instr-atstart=no",
                           "--collect-atstart=no"]  # fmt: skip
    assert command[4] == f"--callgrind-out-file={tmp_path}/cg.%p"
    assert command[5:] == ["python", "-m", "x"]


def test_an_edited_toggle_source_gets_a_new_library_name() -> None:
    assert library_name(b"a") == library_name(b"a")
    assert library_name(b"a") != library_name(b"b")
    assert library_name(b"a").startswith("callgrind_toggle-")
    assert library_name(b"a").endswith(".so")
