# ruff: noqa - MetaTrader 5's documented example, kept as the documentation writes it
# MetaTrader 5 documentation, Python integration, history_deals_get: deals of a date range
# by group, then those of one position (https://www.mql5.com/en/docs/python_metatrader5/
# mt5historydealsget_py). The calls are the documentation's; printed texts shortened.
from datetime import datetime

import MetaTrader5 as mt5
import pandas as pd

pd.set_option("display.max_columns", 500)
pd.set_option("display.width", 1500)
print("MetaTrader5 package author: ", mt5.__author__)
print("MetaTrader5 package version: ", mt5.__version__)
print()
if not mt5.initialize():
    print("initialize() failed, error code =", mt5.last_error())
    quit()

from_date = datetime(2020, 1, 1)
to_date = datetime.now()
deals = mt5.history_deals_get(from_date, to_date, group="*GBP*")
if deals == None:
    print("No deals with group=\"*USD*\", error code={}".format(mt5.last_error()))
elif len(deals) > 0:
    print("history_deals_get({}, {}, group=\"*GBP*\")={}".format(from_date, to_date, len(deals)))

deals = mt5.history_deals_get(from_date, to_date, group="*,!*EUR*,!*GBP*")
if deals == None:
    print("No deals, error code={}".format(mt5.last_error()))
elif len(deals) > 0:
    print("history_deals_get(from_date, to_date, group=\"*,!*EUR*,!*GBP*\") =", len(deals))
    for deal in deals:
        print("  ", deal)
    print()
    df = pd.DataFrame(list(deals), columns=deals[0]._asdict().keys())
    df["time"] = pd.to_datetime(df["time"], unit="s")
    print(df)
print("")

position_id = 530218319
position_deals = mt5.history_deals_get(position=position_id)
if position_deals == None:
    print("No deals with position #{}".format(position_id))
    print("error code =", mt5.last_error())
elif len(position_deals) > 0:
    print("Deals with position id #{}: {}".format(position_id, len(position_deals)))
    df = pd.DataFrame(list(position_deals), columns=position_deals[0]._asdict().keys())
    df["time"] = pd.to_datetime(df["time"], unit="s")
    print(df)

mt5.shutdown()
