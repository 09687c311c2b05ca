"""Defaults and bounds of user inputs that several entry points check.

Light to import (no pandas, no LightGBM): the DAG files read them at parse time for
their trigger forms, as the CLI, the service and the domain do for their checks.
"""

DEFAULT_WINDOWS = 13  # backtest cut-offs of a training, one week apart: a quarter of a year of origins
MAX_WINDOWS = 104

DEFAULT_BATCH_SIZE = 25  # series per refresh batch (one mapped task, one transaction)
MAX_BATCH_SIZE = 1000
