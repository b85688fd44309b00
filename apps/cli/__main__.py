"""`python -m apps.cli` runs the `ccxt-oms` command."""

from apps.cli.main import main

main()
