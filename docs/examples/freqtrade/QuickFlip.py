"""A small freqtrade strategy for trying the gateway (docs/bots.md) and for its bot tests: it
enters long at once, exits 20 seconds later, and does it again. It trades on time, not on a
signal, so a trade opens and closes within a minute whatever the market does."""

from datetime import datetime
from typing import Any

from pandas import DataFrame

from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy


class QuickFlip(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    startup_candle_count = 30  # from the venue's candle history: none to wait for
    minimal_roi = {"0": 100}  # never exit on ROI
    stoploss = -0.5
    can_short = False
    process_only_new_candles = False  # act on every loop, not once a minute
    hold_seconds = 20

    def populate_indicators(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        dataframe["sma"] = dataframe["close"].rolling(self.startup_candle_count).mean()
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        dataframe.loc[dataframe["sma"].notna(), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        return dataframe

    def custom_exit(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                    current_profit: float, **kwargs: Any) -> str | None:
        held = (current_time - trade.open_date_utc).total_seconds()
        return "timed_exit" if held >= self.hold_seconds else None

    def leverage(self, pair: str, current_time: datetime, current_rate: float,
                 proposed_leverage: float, max_leverage: float, entry_tag: str | None, side: str,
                 **kwargs: Any) -> float:
        return 2.0
