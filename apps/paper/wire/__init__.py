"""The paper venue served at the wire: exchange dialects (Binance spot, Binance USDⓈ-M) over the
paper engine, so CCXT's own exchange classes trade it over HTTP and websockets."""
