"""Who honours each field of each command: a field the gateway accepts is a promise.

Every field of every command payload (`command_models.PAYLOAD_MODELS`) is listed here with the
part that executes it, and a test walks the models against this table
(`test/unit/foundation/test_field_use.py`): a new field without an entry fails the suite, so no
field can be stored and then dropped unnoticed.

- `BOOKS`: the gateway executes it itself (acceptance, the books, its triggers, its risk rules,
  a good-till-date's expiry: `domain/good_till_date.py`).
- `VENUE`: it goes to the venue with the order (`execution/send.venue_params`); acceptance
  refuses it on a venue that would not execute it (`domain/order_features.check_honoured`).
- `HELD`: the venue executes it where it can, else the gateway holds the order and executes it
  itself (`execution/held.py`); acceptance decides which per venue and refuses what neither
  can honour (`domain/order_features.check_honoured`).
- `GROUP`: the gateway holds the contingent group it asks for (OCO legs, a bracket's exits, OTO children:
  `execution/order_groups.py`); acceptance checks each member it will create as a held order
  and refuses a group the venue would have to execute itself (`service/accept_groups.py`).
- `REFUSED`: the model takes it so that CCXT-shaped clients get a clear refusal (422
  `not_supported`), never a silent plain order; nobody executes it yet.
"""

from __future__ import annotations

from enum import StrEnum


class Use(StrEnum):
    BOOKS = "books"
    VENUE = "venue"
    HELD = "held"
    GROUP = "group"
    REFUSED = "refused"


B, V, H, G = Use.BOOKS, Use.VENUE, Use.HELD, Use.GROUP
FIELD_USE: dict[str, dict[str, Use]] = {
    "send_order": {
        "symbol": V, "side": V, "order_type": V, "qty": V, "price": V, "strategy_id": B,
        "position_id": B, "reason": B, "comment": B, "reduce_only": B, "client_order_id": V,
        "post_only": V, "time_in_force": V, "trigger_price": V, "stop_price": V,
        "take_profit_price": V, "trailing_amount": H, "trailing_percent": H,
        "trailing_trigger_price": H, "trigger_price_type": H, "expire_at": B, "emulation": B,
        "oms_stop_loss": B, "oms_stop_gain": B, "params": V, "bracket_stop_loss": G,
        "bracket_take_profit": G, "bracket_time_limit": G, "oco_orders": G, "oto_orders": G,
    },
    "cancel_order": {"order_id": B, "order_ids": B, "order_ids_csv": B},
    "cancel_all_orders": {"symbol": B, "strategy_ids": B, "strategy_ids_csv": B},
    "change_order": {"order_id": B, "new_price": V, "new_qty": V},
    "close_position": {
        "position_id": B, "order_type": V, "price": V, "qty": B, "strategy_id": B, "reason": B,
        "comment": B, "client_order_id": V, "params": V, "post_only": V, "time_in_force": V,
    },
    "close_by": {"position_id_a": B, "position_id_b": B, "qty": B, "strategy_id": B},
    "merge_positions": {
        "source_position_id": B, "target_position_id": B, "stop_mode": B, "oms_stop_loss": B,
        "oms_stop_gain": B,
    },
    "position_change": {"position_id": B, "oms_stop_loss": B, "oms_stop_gain": B, "comment": B},
}  # fmt: skip
