"""Claims of the docs checked against the code they describe: the schema revision `db current`
shows, the tests `make test` runs, the CLI commands docs/operations.md and the README name, the
worker's log line docs/testnet.md quotes for credentials it cannot decrypt, docs/bots.md's spot
balance example."""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from apps.cli.main import app
from apps.oms.domain.allocation import Holding, StrategyFunds, strategy_balance, terms_of
from apps.oms.domain.enums import Side
from apps.oms.errors import ConfigError
from apps.oms.security.credentials import CredentialCipher, generate_master_key
from apps.oms.store.migrate import head_revision

ROOT = Path(__file__).resolve().parents[3]
OPERATIONS = ROOT / "docs" / "operations.md"
BANNER_WORDS = {"is"}  # `make run`'s banner, shown in the README: "ccxt-oms is starting"


def code_of(doc: Path) -> str:
    """The fenced blocks and inline code spans of a markdown file, where commands are shown."""
    text = doc.read_text(encoding="utf-8")
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return "\n".join([*fenced, *re.findall(r"`([^`\n]+)`", prose)])


def test_the_db_current_example_shows_the_latest_migration() -> None:
    shown = re.search(r'ccxt-oms db current .*"current": "([^"]+)", "head": "([^"]+)"',
                      OPERATIONS.read_text(encoding="utf-8"))  # fmt: skip
    assert shown is not None
    assert shown.groups() == (head_revision(), head_revision())


def test_the_make_test_line_selects_the_markers_the_makefile_does() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^test: .*?\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    selected = re.search(r'-m "([^"]+)"', recipe.group(1))
    assert selected is not None
    doc = " ".join(OPERATIONS.read_text(encoding="utf-8").split())
    documented = re.search(r'`make test` = .*?-m "([^"]+)"', doc)
    assert documented is not None
    assert documented.group(1) == selected.group(1)


def test_every_cli_command_the_docs_show_exists() -> None:
    names = {c.name or "" for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    for doc in (OPERATIONS, ROOT / "README.md"):
        shown = set(re.findall(r"\bccxt-oms ([a-z][a-z0-9-]*)", code_of(doc))) - BANNER_WORDS
        assert shown, doc
        assert shown <= names, (doc.name, sorted(shown - names))
    assert "disable-api-key" in names
    text = " ".join(OPERATIONS.read_text(encoding="utf-8").split())
    assert "no CLI command yet to disable" not in text


def test_the_testnet_page_quotes_what_a_gateway_without_the_master_key_logs() -> None:
    stored = CredentialCipher(generate_master_key()).encrypt("exchange-secret")
    with pytest.raises(ConfigError) as other_key:
        CredentialCipher(generate_master_key()).decrypt(stored)
    with pytest.raises(ConfigError) as no_key:
        CredentialCipher(None).decrypt(stored)
    page = " ".join((ROOT / "docs" / "testnet.md").read_text(encoding="utf-8").split())
    assert f"has no usable venue: {other_key.value.message}" in page
    assert no_key.value.message.split(":")[0] in page
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "has no usable venue" in readme
    assert "same key exported" in readme


def test_the_bots_page_balance_example_is_what_the_allocation_fold_answers() -> None:
    funds = StrategyFunds(
        "USDT", Decimal(1000), realized={"USDT": Decimal("-0.5")},
        holdings=(Holding(Side.BUY, Decimal("0.01"), Decimal(50000), terms_of("BTC/USDT")),),
    )  # fmt: skip
    balance = strategy_balance(funds)
    usdt, btc = balance["USDT"].total.normalize(), balance["BTC"].total.normalize()
    page = " ".join((ROOT / "docs" / "bots.md").read_text(encoding="utf-8").split())
    assert f"USDT total {usdt:f} and BTC total {btc:f}" in page
    assert "for **spot** the open position moves cash" in page
