"""Trace ids made by the API for requests without one: 32 hex characters, never repeated within
a process, and a forked child (e.g. a pre-forking server's worker) draws its own prefix."""

import os
import re

from apps.api.tracing import new_trace_id


def test_trace_ids_are_32_hex_and_unique() -> None:
    ids = [new_trace_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_another_prefix() -> None:
    read, write = os.pipe()
    parent = new_trace_id()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_trace_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert re.fullmatch(r"[0-9a-f]{32}", child)
    assert child[:16] != parent[:16]
