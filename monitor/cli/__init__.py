"""The command line: `monitor run`, `check-config`, `evaluate`, `backtest`, and the rest."""
