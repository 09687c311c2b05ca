"""Defaults and bounds of user inputs that several entry points check.

Light to import (no pandas, no LightGBM): the DAG files read them at parse time for
their trigger forms, as the CLI, the service and the domain do for their checks.
"""

DEFAULT_WINDOWS = 13  # backtest cut-offs of a training, one week apart: a quarter of a year of origins
MAX_WINDOWS = 104

DEFAULT_BATCH_SIZE = 25  # series per refresh batch (one mapped task, one transaction)
MAX_BATCH_SIZE = 1000

# A CSV file or upload is refused beyond this, before it is read and while it is read. A weekly
# Google Trends export is a few KiB, a century of weekly values 70 KiB; the bound keeps the worst
# file (650,000 one-value rows) to about 5 s of parsing and 75 MiB of memory in a worker.
MAX_CSV_BYTES = 8 * 1024 * 1024
