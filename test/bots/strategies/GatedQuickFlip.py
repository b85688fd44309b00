"""The bundled QuickFlip (docs/examples/freqtrade) with a gate before its first order, for the bot
test of the gateway's refusals: freqtrade has read its balance and priced the entry, and waits in
`confirm_trade_entry` until the test, having lowered the bot's allocation meanwhile, lets it go.
The gate is two files in the bot's user directory (`entry-waiting` written here, `entry-go`
written by the test); every later entry passes at once."""

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

# the bundled strategy, unchanged, from its place in the repository
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "docs" / "examples" / "freqtrade"))
from QuickFlip import QuickFlip


class GatedQuickFlip(QuickFlip):
    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float,
                            time_in_force: str, current_time: datetime, entry_tag: str | None,
                            side: str, **kwargs: Any) -> bool:
        userdir = Path(self.config["user_data_dir"])
        go = userdir / "entry-go"
        if not go.exists():
            (userdir / "entry-waiting").touch()
            while not go.exists():  # the test writes it; it stops the bot if it gives up
                time.sleep(0.2)
        return True
