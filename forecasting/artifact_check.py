"""Child process that parses a LightGBM text model and predicts: ``python -m forecasting.artifact_check``.

LightGBM ends the whole process (``std::terminate``) on some malformed model
texts instead of raising, so an artifact is first parsed here, in a process of its
own, where a crash is just a non-zero exit. Reads ``{"artifact", "rows"}`` JSON on
stdin, writes the predictions as a JSON list on stdout.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main() -> None:
    payload = json.load(sys.stdin)
    from lightgbm import Booster

    booster = Booster(model_str=payload["artifact"])
    rows = np.asarray(payload["rows"], dtype=float).reshape(len(payload["rows"]), -1)
    json.dump(booster.predict(rows).tolist(), sys.stdout)


if __name__ == "__main__":
    main()
