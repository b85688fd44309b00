# ruff: noqa - MetaTrader 5's documented example, kept as the documentation writes it
# MetaTrader 5 documentation, Python integration, copy_rates_range: USDJPY M5 bars of
# 2020-01-10 00:00 to 2020-01-11 13:00 UTC as a pandas table (https://www.mql5.com/en/docs/
# python_metatrader5/mt5copyratesrange_py). The calls are the documentation's.
from datetime import datetime

import MetaTrader5 as mt5

print("MetaTrader5 package author: ", mt5.__author__)
print("MetaTrader5 package version: ", mt5.__version__)

import pandas as pd

pd.set_option("display.max_columns", 500)
pd.set_option("display.width", 1500)
import pytz

if not mt5.initialize():
    print("initialize() failed, error code =", mt5.last_error())
    quit()

timezone = pytz.timezone("Etc/UTC")
utc_from = datetime(2020, 1, 10, tzinfo=timezone)
utc_to = datetime(2020, 1, 11, hour=13, tzinfo=timezone)
rates = mt5.copy_rates_range("USDJPY", mt5.TIMEFRAME_M5, utc_from, utc_to)

mt5.shutdown()

print("Display obtained data 'as is'")
counter = 0
for rate in rates:
    counter += 1
    if counter <= 10:
        print(rate)

rates_frame = pd.DataFrame(rates)
rates_frame["time"] = pd.to_datetime(rates_frame["time"], unit="s")
print("\nDisplay dataframe with data")
print(rates_frame.head(10))
