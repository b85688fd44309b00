"""Secrets never reach a log line; trace ids are on every line."""

import logging

import pytest

from apps.oms.observability import configure_logging, mask_secrets, trace_id_var


@pytest.mark.parametrize(
    "line",
    [
        "x-api-key: oms_abcdefghijklmnopqrstuvwxyz0123456789",
        "stored enc:v1:gAAAAABkZXNlY3JldA==",
        '{"secret": "hunter2-very-secret"}',
        "passphrase=hunter2-very-secret",
    ],
)
def test_mask_secrets(line: str) -> None:
    masked = mask_secrets(line)
    assert "hunter2" not in masked
    assert "abcdefghijklmnop" not in masked
    assert "gAAAAABkZXNlY3JldA" not in masked


def test_log_lines_carry_trace_id_and_mask(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        trace_id_var.set("trace-123")
        logging.getLogger("t").info("using api_key=%s", "oms_abcdefghijklmnopqrstuvwxyz0123456789")
        err = capsys.readouterr().err
        assert '"trace_id": "trace-123"' in err
        assert "abcdefghijklmnop" not in err
        configure_logging("INFO", "text")
        logging.getLogger("t").info("plain line")
        assert "[trace-123] plain line" in capsys.readouterr().err
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_oms", False):
                logging.getLogger().removeHandler(handler)
