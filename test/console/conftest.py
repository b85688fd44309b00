"""The web console in a real headless Chromium (Debian's package, driven by Playwright) against
real `ccxt-oms api` + `ccxt-oms worker` processes on a fresh MariaDB database (the e2e pipeline
stack, `test/e2e/pipeline/conftest.py`). Installs chromium and builds the console when missing.
Screenshots of every screen go to the test's own temporary directory (pytest's `tmp_path`), or
to `OMS_CONSOLE_SHOTS` when set: `make screenshots` sets it to docs/console/ (`make test` leaves
the tracked ones alone)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from apps.api.console import CONSOLE_DIST, console_built
from apps.oms.domain.access import AccountFlags
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from test.e2e.pipeline.conftest import PEPPER, SYMBOL, Stack, make_stack

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 60_000  # generous DOM deadlines: the machine is shared, nothing here measures speed
__all__ = ["SYMBOL", "WAIT_MS", "Keys", "Shot", "cells", "close_all", "grid_rows", "header_problems", "login",
           "wait_cells"]
Shot = Callable[[Page, str], None]


@dataclass
class Keys:
    stack: Stack
    account_id: int
    readonly: str
    risk: str


def _ensure_chromium() -> None:
    if not Path(CHROMIUM).exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], check=True)


def _ensure_console() -> None:
    if console_built(CONSOLE_DIST):
        return
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to build the console (Node 20)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "console", check=True)
    subprocess.run(["npm", "run", "build"], cwd=ROOT / "console", check=True)


@pytest.fixture(scope="module")
def playwright_session(keys: Keys) -> Iterator[Playwright]:
    # after `keys`: the stack's seeding runs asyncio.run, which sync Playwright's loop would refuse
    _ensure_chromium()
    _ensure_console()
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    b = playwright_session.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield pg
    context.close()


def _extra_keys(url: str, account_id: int) -> tuple[str, str]:
    async def run() -> tuple[str, str]:
        store = Store.from_url(url)
        try:
            keys = []
            async with store.transaction() as conn:
                for role, flags in (
                    ("readonly", AccountFlags()),
                    ("risk", AccountFlags(can_close_position=True, can_risk_manage=True,
                                          can_block_new_positions=True, can_block_account=True)),
                ):
                    user_id = await admin.create_user(conn, CLI_ACTOR, name=f"console-{role}",
                                                      role=admin.parse_role(role))
                    key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER,
                                                     user_id=user_id, label=role)
                    await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                               account_id=account_id, flags=flags)
                    keys.append(key.plain)
            return keys[0], keys[1]
        finally:
            await store.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    with make_stack(tmp_path_factory.mktemp("console")) as stack:
        stack.price("100")
        account_id = stack.account("hedge")
        readonly, risk = _extra_keys(stack.url, account_id)
        yield Keys(stack, account_id, readonly, risk)


def login(page: Page, base: str, key: str, lang: str = "en") -> None:
    page.goto(f"{base}/ui/")
    page.get_by_test_id("base_url").fill(base)
    page.get_by_test_id("language").select_option(lang)
    page.get_by_test_id("api_key").fill(key)
    page.get_by_test_id("login-submit").click()


def goto(page: Page, screen: str) -> None:
    page.get_by_test_id(f"nav-{screen}").click()
    expect(page.locator(f'main[data-screen="{screen}"]')).to_be_visible()


def wait_live(page: Page) -> None:
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "live")


def grid_rows(page: Page, testid: str, cols: list[str]) -> list[dict[str, str]]:
    """The rows the grid shows (DOM), each as {id, col: text}, sorted by id."""
    rows: list[dict[str, str]] = page.evaluate(
        """([testid, cols]) => {
          const grid = document.querySelector(`[data-testid="${testid}"]`);
          if (!grid) return [];
          return [...grid.querySelectorAll('.ag-center-cols-container .ag-row')].map((row) => {
            const out = { id: row.getAttribute('row-id') };
            for (const c of cols) {
              const cell = row.querySelector(`[col-id="${c}"]`);
              out[c] = cell ? cell.textContent : null;
            }
            return out;
          });
        }""",
        [testid, cols],
    )
    return sorted(rows, key=lambda r: int(r["id"]))


def shots_dir(tmp_path: Path) -> Path:
    """Where a test's screenshots go: `OMS_CONSOLE_SHOTS` when set (read at each shot), else
    the test's own temporary directory (pytest keeps the last few runs' and removes older)."""
    return Path(os.environ.get("OMS_CONSOLE_SHOTS") or tmp_path)


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    """shot(page, name): a full-page screenshot `name.png` into `shots_dir`."""

    def take(page: Page, name: str) -> None:
        target = shots_dir(tmp_path)
        target.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(300)  # let the grid paint its last transaction (cosmetic only)
        page.evaluate("window.scrollTo(0, 0)")  # the sticky header on top of a full-page shot
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)

    return take


def api_rows(stack: Stack, path: str, account_id: int, fields: list[str]) -> list[dict[str, Any]]:
    items = stack.get(path, account_ids=account_id)["items"]
    return sorted(
        ({"id": str(i["id"]), **{f: "" if i[f] is None else str(i[f]) for f in fields}}
         for i in items),
        key=lambda r: int(r["id"]),
    )


def cells(page: Page, testid: str, row_id: str, cols: list[str]) -> dict[str, str]:
    """The texts of a row's cells (pinned parts included), as the grid shows them."""
    out: dict[str, str] = page.evaluate(
        """([testid, id, cols]) => {
          const grid = document.querySelector(`[data-testid="${testid}"]`);
          const out = {};
          if (!grid) return out;
          for (const row of grid.querySelectorAll(`.ag-row[row-id="${id}"]`)) {
            for (const c of cols) {
              const cell = row.querySelector(`[col-id="${c}"]`);
              if (cell) out[c] = cell.textContent;
            }
          }
          return out;
        }""",
        [testid, row_id, cols],
    )
    return out


def wait_cells(page: Page, testid: str, row_id: str, want: dict[str, str], what: str) -> None:
    """Polls the DOM until the row shows `want` (generous deadline: nothing here times speed)."""
    for _ in range(WAIT_MS // 100):
        if cells(page, testid, row_id, list(want)) == want:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{what}: row {row_id} shows {cells(page, testid, row_id, list(want))}, "
                         f"not {want}")


def close_all(keys: Keys) -> None:
    keys.stack.cmd(keys.account_id, "cancel_all_orders")
    for p in keys.stack.positions(keys.account_id):
        keys.stack.cmd(keys.account_id, "close_position", position_id=p["id"])


def header_problems(page: Page) -> list[list[str]]:
    """The shown grid headers whose text breaks inside a word (a word's characters on two lines)
    or is cut short (wider than its cell), as [problem, header, word]."""
    problems: list[list[str]] = page.evaluate(
        """() => {
          const out = [];
          for (const el of document.querySelectorAll('.grid .ag-header-cell-text')) {
            if (!el.offsetParent) continue;  // a hidden tab's grid
            const text = el.textContent;
            if (el.scrollWidth > el.clientWidth + 1) out.push(['cut', text, '']);
            const node = el.firstChild;
            if (!node || node.nodeType !== Node.TEXT_NODE) continue;
            let at = 0;
            for (const word of text.split(' ')) {
              const range = document.createRange();
              range.setStart(node, at);
              range.setEnd(node, at + word.length);
              const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
              if (lines.size > 1) out.push(['broken', text, word]);
              at += word.length + 1;
            }
          }
          return out;
        }""")
    return problems
