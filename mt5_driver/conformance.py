"""A type checker's proof that this API is the official package's as its published stubs
(`metatrader5-stubs`) declare it: each official function is assigned this module's, so mypy
(strict, `make typecheck`) refuses a signature or result that does not fit. Nothing runs here;
importing it costs nothing (the official package is named only for the type checker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import MetaTrader5 as official

    import mt5_driver as ours

    def _functions_fit() -> None:
        # a name bound to the official function first, then to ours: mypy checks that ours
        # is assignable where the official one is declared (parameters, kinds, results)
        initialize = official.initialize
        initialize = ours.initialize
        shutdown = official.shutdown
        shutdown = ours.shutdown
        last_error = official.last_error
        last_error = ours.last_error
        terminal_info = official.terminal_info
        terminal_info = ours.terminal_info
        symbol_info_tick = official.symbol_info_tick
        symbol_info_tick = ours.symbol_info_tick
        symbol_select = official.symbol_select
        symbol_select = ours.symbol_select
        copy_rates_from_pos = official.copy_rates_from_pos
        copy_rates_from_pos = ours.copy_rates_from_pos
        orders_get = official.orders_get
        orders_get = ours.orders_get
        order_calc_margin = official.order_calc_margin
        order_calc_margin = ours.order_calc_margin
        order_send = official.order_send
        order_send = ours.order_send
        positions_total = official.positions_total
        positions_total = ours.positions_total
        positions_get = official.positions_get
        positions_get = ours.positions_get
        del (initialize, shutdown, last_error, terminal_info, symbol_info_tick, symbol_select,
             copy_rates_from_pos, orders_get, order_calc_margin, order_send, positions_total,
             positions_get)  # fmt: skip

    def _constants_fit() -> None:
        done: int = ours.TRADE_RETCODE_DONE
        done = official.TRADE_RETCODE_DONE
        del done
