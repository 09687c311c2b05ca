"""Half a year of weekly operation, replayed on real Postgres, a real service and the real Flu panel.

The centre of the suite: each piece is tested alone elsewhere; here they must stay
correct together through time (see ``tests/replay.py`` for what each week does and
checks). Costs about 3 minutes: 27 refreshes and trainings, and two service pickups
a week.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.replay import FIRST_WEEK, GoogleLikeAnswers, Replay, read_flu_panel, summary
from tests.servers import gunicorn_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WEEKS = 26
TTL_S = 1.0
RESAMPLED = {5: ["flu-region-3"], 12: ["flu-region-1", "flu-region-7"], 20: ["flu-region-5"]}
DAMAGED = 9  # a newer ready version whose artifact is damaged appears after that week's retrain


@pytest.fixture
def replay(pg_engine: Engine, shared_data: Path, tmp_path: Path) -> Iterator[Replay]:
    answers = GoogleLikeAnswers(read_flu_panel(shared_data), tmp_path)
    url = pg_engine.url.render_as_string(hide_password=False)
    with gunicorn_server(url, cache_ttl_s=TTL_S, workers=2) as server:
        yield Replay(pg_engine, answers, server.url, server.worker_pids, ttl_s=TTL_S, windows=2)


def test_half_a_year_of_weekly_cycles_stays_correct(replay: Replay) -> None:
    weeks = replay.answers.panel.index[replay.answers.panel.index >= FIRST_WEEK][: WEEKS + 1]
    replay.start(weeks[0])
    for number, week in enumerate(weeks[1:], 1):
        replay.week(week, resampled=RESAMPLED.get(number, ()), damage=number == DAMAGED)

    totals = summary(replay.records)
    print(totals)
    assert totals["weeks"] == WEEKS
    # Google's rescaling happened: the resampled series, and the pandemic's new maxima
    assert totals["outcomes"]["new_version"] >= sum(len(v) for v in RESAMPLED.values())
    assert totals["outcomes"]["appended"] > totals["outcomes"]["new_version"]
    assert totals["model_versions"] == WEEKS + 1
