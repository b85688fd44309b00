# ruff: noqa - MetaTrader 5's documented example, kept as the documentation writes it
# MetaTrader 5 documentation, Python integration, positions_get: the positions of a symbol,
# then those of a group as a pandas table (https://www.mql5.com/en/docs/python_metatrader5/
# mt5positionsget_py). The calls are the documentation's; printed texts shortened.
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

positions = mt5.positions_get(symbol="USDCHF")
if positions == None:
    print("No positions on USDCHF, error code={}".format(mt5.last_error()))
elif len(positions) > 0:
    print("Total positions on USDCHF =", len(positions))
    for position in positions:
        print(position)

usd_positions = mt5.positions_get(group="*USD*")
if usd_positions == None:
    print("No positions with group=\"*USD*\", error code={}".format(mt5.last_error()))
elif len(usd_positions) > 0:
    print("positions_get(group=\"*USD*\")={}".format(len(usd_positions)))
    df = pd.DataFrame(list(usd_positions), columns=usd_positions[0]._asdict().keys())
    df["time"] = pd.to_datetime(df["time"], unit="s")
    df.drop(["time_update", "time_msc", "time_update_msc", "external_id"], axis=1, inplace=True)
    print(df)

mt5.shutdown()
