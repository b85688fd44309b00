"""The drivers' string escape, made faster (`apps.oms.store.escaping`), returns exactly what
pymysql's and asyncmy's own escapes return, for any text."""

from __future__ import annotations

import asyncmy.converters
import pymysql.converters
from hypothesis import given
from hypothesis import strategies as st

from apps.oms.store.escaping import SHORT, escape_string

SPECIAL = "\\\0\n\r\032'\"%"
#: long strings dense in special characters (the fast path), and any text (both paths)
texts = st.text(
    alphabet=st.sampled_from(SPECIAL + "a中"), min_size=SHORT, max_size=3 * SHORT
) | st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(), max_size=3 * SHORT)


@given(texts)
def test_escape_is_the_drivers_escape(value: str) -> None:
    assert escape_string(value) == pymysql.converters.escape_string(value)
    assert escape_string(value) == asyncmy.converters.escape_string(value)


def test_every_special_character_in_a_long_string() -> None:
    value = ("{\"a\": 'b'} \\ \0 \n \r \032 é 中 " * 8)[: 4 * SHORT]
    assert len(value) >= SHORT
    assert escape_string(value) == pymysql.converters.escape_string(value)
    assert "\\\\" in escape_string(value)
    assert "\\Z" in escape_string(value)
