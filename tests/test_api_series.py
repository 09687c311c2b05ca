"""``/api/timeseries`` through the Flask test client, on SQLite and Postgres."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from forecasting.apply import apply_file
from forecasting.refresh import add_and_download
from tests.conftest import SAMPLE_YAML
from tests.store_checks import statements

FIRST_SUNDAY = date(2024, 1, 7)


def weeks(n: int, start: date = FIRST_SUNDAY) -> list[str]:
    return [(start + timedelta(weeks=i)).isoformat() for i in range(n)]


def csv_text(values: list[float], start: date = FIRST_SUNDAY) -> str:
    rows = "".join(f"{day},{value}\n" for day, value in zip(weeks(len(values), start), values))
    return "time,value\n" + rows


def write_csv(path: Path, values: list[float], start: date = FIRST_SUNDAY) -> Path:
    path.write_text(csv_text(values, start))
    return path


@pytest.fixture
def app(engine, app_for, csv_root):
    """The service reading CSV files under the test's tmp_path (FORECASTING_CSV_ROOTS)."""
    return app_for(engine)


def create_csv_series(client, auth, name: str, path: Path):
    return client.post(
        "/api/timeseries", json={"name": name, "source": "csv", "params": {"path": str(path)}}, headers=auth
    )


def test_create_series_downloads_its_first_version_and_returns_its_overview(client, auth, tmp_path):
    path = write_csv(tmp_path / "clicks.csv", [10.0, 20.0, 30.0, 40.0])

    response = create_csv_series(client, auth, "clicks", path)

    assert response.status_code == 201
    created = response.get_json()
    version_id = created["current_version_id"]
    overview = {
        "id": created["id"],
        "name": "clicks",
        "source": "csv",
        "params": {"path": str(path.resolve()), "less_than_one": 0.5},
        "current_version_id": version_id,
        "n_values": 4,
        "first_time": "2024-01-07T00:00:00",
        "last_time": "2024-01-28T00:00:00",
        "n_versions": 1,
        "synthetic": False,
    }
    assert isinstance(created["id"], int) and isinstance(version_id, int)
    assert created == {
        **overview,
        "refresh": {
            "series": "clicks",
            "outcome": "created",
            "version_id": version_id,
            "rows_added": 4,
            "error": None,
        },
    }
    assert client.get("/api/timeseries/clicks").get_json() == overview
    assert client.get("/api/timeseries").get_json() == [overview]
    assert client.get("/api/timeseries/clicks/latest-values").get_json() == {
        "series": "clicks",
        "version_id": version_id,
        "values": [
            {"time": f"{day}T00:00:00", "value": value}
            for day, value in zip(weeks(4), [10.0, 20.0, 30.0, 40.0])
        ],
    }


def test_create_series_whose_download_fails_creates_nothing(client, auth, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("this is not\na trends export\n")

    response = create_csv_series(client, auth, "broken", broken)

    assert response.status_code == 502
    assert "broken" in response.get_json()["error"] and "no data rows" in response.get_json()["error"]
    assert client.get("/api/timeseries/broken").status_code == 404
    assert client.get("/api/timeseries").get_json() == []
    # once the file is readable the same name can be created: nothing was left behind
    write_csv(broken, [1.0, 2.0])
    assert create_csv_series(client, auth, "broken", broken).status_code == 201


def test_create_series_with_a_missing_file_is_404_and_creates_nothing(client, auth, tmp_path):
    response = create_csv_series(client, auth, "missing", tmp_path / "missing.csv")

    assert response.status_code == 404  # an unknown reference, as a path outside the roots is
    assert "file not found" in response.get_json()["error"]
    assert client.get("/api/timeseries").get_json() == []


def test_create_series_with_an_unknown_source_or_param_is_400_naming_it(client, auth):
    unknown_source = client.post("/api/timeseries", json={"name": "s", "source": "nope"}, headers=auth)
    unknown_param = client.post(
        "/api/timeseries", json={"name": "s", "source": "sample", "params": {"bogus": 1}}, headers=auth
    )
    blank_name = client.post("/api/timeseries", json={"name": " s", "source": "sample"}, headers=auth)

    assert unknown_source.status_code == 400 and "'nope'" in unknown_source.get_json()["error"]
    assert unknown_param.status_code == 400 and "bogus" in unknown_param.get_json()["error"]
    assert blank_name.status_code == 400 and "name" in blank_name.get_json()["error"]
    assert client.get("/api/timeseries").get_json() == []


def test_create_series_with_a_taken_name_is_409_and_keeps_the_first(client, auth, tmp_path):
    first = write_csv(tmp_path / "first.csv", [1.0, 2.0])
    second = write_csv(tmp_path / "second.csv", [5.0, 6.0, 7.0])
    assert create_csv_series(client, auth, "clicks", first).status_code == 201

    response = create_csv_series(client, auth, "clicks", second)

    assert response.status_code == 409
    assert "clicks" in response.get_json()["error"]
    kept = client.get("/api/timeseries/clicks").get_json()
    assert kept["params"]["path"] == str(first.resolve()) and kept["n_values"] == 2


def test_sample_series_are_weekly_on_sundays_and_labelled_synthetic(engine, client, auth):
    apply_file(engine, SAMPLE_YAML)

    refreshed = client.post("/api/timeseries/update-all-values", headers=auth)

    assert refreshed.status_code == 200
    assert [(r["series"], r["outcome"]) for r in refreshed.get_json()["results"]] == [
        ("sample-coffee", "created"),
        ("sample-flu", "created"),
        ("sample-tea", "created"),
    ]
    listing = client.get("/api/timeseries").get_json()
    assert [(s["name"], s["source"], s["synthetic"], s["n_values"]) for s in listing] == [
        ("sample-coffee", "sample", True, 260),
        ("sample-flu", "sample", True, 260),
        ("sample-tea", "sample", True, 260),
    ]
    values = client.get("/api/timeseries/sample-coffee/latest-values").get_json()["values"]
    days = [date.fromisoformat(v["time"][:10]) for v in values]
    assert len(days) == 260
    assert all(day.weekday() == 6 for day in days)  # Sunday
    assert all(later - earlier == timedelta(weeks=1) for earlier, later in zip(days, days[1:]))
    assert all(0 <= v["value"] <= 100 for v in values)


def test_update_values_of_a_series_without_data_reports_created(engine, client, auth):
    apply_file(engine, SAMPLE_YAML)  # defines the series without downloading them
    assert client.get("/api/timeseries/sample-tea/latest-values").status_code == 404

    response = client.post("/api/timeseries/sample-tea/update-values", headers=auth)

    assert response.status_code == 200
    version_id = client.get("/api/timeseries/sample-tea").get_json()["current_version_id"]
    assert response.get_json() == {
        "results": [
            {
                "series": "sample-tea",
                "outcome": "created",
                "version_id": version_id,
                "rows_added": 260,
                "error": None,
            }
        ],
        "errors": 0,
    }


def test_update_values_reports_appended_then_unchanged_then_new_version(client, auth, tmp_path):
    path = write_csv(tmp_path / "clicks.csv", [10.0, 20.0, 30.0])
    first = create_csv_series(client, auth, "clicks", path).get_json()["current_version_id"]

    def update():
        response = client.post("/api/timeseries/clicks/update-values", headers=auth)
        assert response.status_code == 200
        (result,) = response.get_json()["results"]
        return result["outcome"], result["version_id"], result["rows_added"]

    write_csv(path, [10.0, 20.0, 30.0, 40.0, 50.0])
    assert update() == ("appended", first, 2)
    assert update() == ("unchanged", first, 0)
    write_csv(path, [5.0, 10.0, 15.0, 20.0, 25.0])  # the source renormalised the history
    outcome, second, rows = update()
    assert (outcome, rows) == ("new_version", 5) and second != first
    assert client.get("/api/timeseries/clicks").get_json()["n_versions"] == 2


def test_latest_values_returns_the_current_version_not_the_oldest_after_a_renormalisation(
    client, auth, tmp_path
):
    path = write_csv(tmp_path / "clicks.csv", [10.0, 20.0, 30.0, 40.0])
    old = create_csv_series(client, auth, "clicks", path).get_json()["current_version_id"]
    write_csv(path, [20.0, 40.0, 60.0, 80.0, 100.0])
    new = client.post("/api/timeseries/clicks/update-values", headers=auth).get_json()["results"][0][
        "version_id"
    ]
    assert new != old

    latest = client.get("/api/timeseries/clicks/latest-values").get_json()

    assert latest["version_id"] == new
    assert [v["value"] for v in latest["values"]] == [20.0, 40.0, 60.0, 80.0, 100.0]
    versions = client.get("/api/timeseries/clicks/versions").get_json()
    assert [(v["id"], v["expired"], v["n_values"]) for v in versions] == [(old, True, 4), (new, False, 5)]
    assert set(versions[0]) == {"id", "created_at", "expired", "n_values"}
    old_values = client.get(f"/api/timeseries/clicks/versions/{old}/values").get_json()
    assert old_values["version_id"] == old
    assert [v["value"] for v in old_values["values"]] == [10.0, 20.0, 30.0, 40.0]


def test_update_all_values_reports_each_series_and_counts_the_failures(client, auth, tmp_path):
    good = write_csv(tmp_path / "good.csv", [1.0, 2.0])
    bad = write_csv(tmp_path / "bad.csv", [3.0, 4.0])
    create_csv_series(client, auth, "good", good)
    create_csv_series(client, auth, "bad", bad)
    bad.write_text("garbage\n")

    partial = client.post("/api/timeseries/update-all-values", headers=auth)

    assert partial.status_code == 200
    document = partial.get_json()
    assert document["errors"] == 1
    assert [(r["series"], r["outcome"]) for r in document["results"]] == [
        ("bad", "error"),
        ("good", "unchanged"),
    ]
    assert "bad" in document["results"][0]["error"]

    good.write_text("garbage\n")
    failed = client.post("/api/timeseries/update-all-values", headers=auth)

    assert failed.status_code == 502
    assert failed.get_json()["errors"] == 2 and "good" in failed.get_json()["error"]
    assert [s["n_versions"] for s in client.get("/api/timeseries").get_json()] == [1, 1]


def upload(client, auth, name: str, content: str, query: str = "", content_type: str = "text/csv"):
    headers = {**auth, "Content-Type": content_type}
    return client.post(f"/api/timeseries/{name}/upload{query}", data=content.encode(), headers=headers)


def test_the_first_upload_creates_the_series_and_later_ones_are_stored_as_a_refresh_stores(client, auth):
    """Version detection as for a download: appended keeps the version, a changed past makes a new one."""
    created = upload(client, auth, "clicks", csv_text([10.0, 20.0, 30.0]))

    assert created.status_code == 201
    body = created.get_json()
    first = body["current_version_id"]
    assert (body["source"], body["params"], body["n_values"]) == ("upload", {}, 3)
    assert body["refresh"] == {
        "series": "clicks",
        "outcome": "created",
        "version_id": first,
        "rows_added": 3,
        "error": None,
    }

    def stored(values: list[float]):
        response = upload(client, auth, "clicks", csv_text(values))
        assert response.status_code == 200, response.get_json()
        result = response.get_json()["refresh"]
        return result["outcome"], result["version_id"], result["rows_added"]

    assert stored([10.0, 20.0, 30.0, 40.0, 50.0]) == ("appended", first, 2)
    assert stored([10.0, 20.0, 30.0, 40.0, 50.0]) == ("unchanged", first, 0)
    outcome, second, rows = stored([5.0, 10.0, 15.0, 20.0, 25.0])  # a renormalised history
    assert (outcome, rows) == ("new_version", 5) and second != first
    versions = client.get("/api/timeseries/clicks/versions").get_json()
    assert [(v["id"], v["expired"], v["n_values"]) for v in versions] == [
        (first, True, 5),
        (second, False, 5),
    ]
    latest = client.get("/api/timeseries/clicks/latest-values").get_json()
    assert [v["value"] for v in latest["values"]] == [5.0, 10.0, 15.0, 20.0, 25.0]


def test_a_refresh_leaves_uploaded_series_as_they_are(client, auth, tmp_path):
    version = upload(client, auth, "uploaded", csv_text([1.0, 2.0])).get_json()["current_version_id"]
    create_csv_series(client, auth, "from-file", write_csv(tmp_path / "f.csv", [3.0, 4.0]))

    one = client.post("/api/timeseries/uploaded/update-values", headers=auth)
    every = client.post("/api/timeseries/update-all-values", headers=auth)

    unchanged = {"series": "uploaded", "outcome": "unchanged", "version_id": version, "rows_added": 0}
    assert one.status_code == every.status_code == 200
    assert one.get_json() == {"results": [{**unchanged, "error": None}], "errors": 0}
    assert [(r["series"], r["outcome"]) for r in every.get_json()["results"]] == [
        ("from-file", "unchanged"),
        ("uploaded", "unchanged"),
    ]


def test_an_upload_is_parsed_with_the_csv_sources_options(client, auth):
    export = "Category: All categories\n\nWeek,tea: (US),coffee: (US)\n1/7/24,<1,5\n1/14/24,3,6\n"

    response = upload(client, auth, "tea", export, "?column=tea&less_than_one=0&date_format=%25m/%25d/%25y")

    assert response.status_code == 201, response.get_json()
    values = client.get("/api/timeseries/tea/latest-values").get_json()["values"]
    assert values == [
        {"time": "2024-01-07T00:00:00", "value": 0.0},
        {"time": "2024-01-14T00:00:00", "value": 3.0},
    ]


@pytest.mark.parametrize(
    ("content", "query", "status", "message"),
    [
        ("Week,hunter2\n2024-01-07,s3cret\n", "", 400, "the upload: line 2: the value in column 2 is not a"),
        ("Week,hunter2,password\n2024-01-07,1,2\n", "", 400, "the header (line 1) has 2 value columns"),
        ("swordfish\n", "", 400, "the upload: no data rows"),
        ("", "", 400, "the upload: no data rows"),
        ("time,value\n2024-01-07,1\n", "?path=/etc/passwd", 400, "unknown param(s) path for source 'upload'"),
        ("time,value\n2024-01-07,1\n", "?less_than_one=2", 400, "param less_than_one must be >= 0 and < 1"),
    ],
)
def test_a_bad_upload_is_400_quoting_no_content_and_creates_nothing(
    client, auth, content: str, query: str, status: int, message: str
):
    response = upload(client, auth, "clicks", content, query)

    assert response.status_code == status
    error = response.get_json()["error"]
    assert error.startswith("series 'clicks': ") and message in error
    assert not any(word in error for word in ("hunter2", "s3cret", "swordfish", "Week"))
    assert client.get("/api/timeseries").get_json() == []


def test_only_series_of_source_upload_take_uploads(client, auth, tmp_path):
    create_csv_series(client, auth, "from-file", write_csv(tmp_path / "f.csv", [3.0, 4.0]))

    response = upload(client, auth, "from-file", csv_text([1.0, 2.0]))

    assert response.status_code == 409
    assert response.get_json()["error"] == (
        "series 'from-file' comes from source 'csv': only series of source 'upload' take uploads, "
        "as a refresh would replace what was sent"
    )
    assert client.get("/api/timeseries/from-file").get_json()["n_versions"] == 1


def test_an_upload_needs_the_token_and_a_csv_body(client, auth):
    no_token = client.post("/api/timeseries/x/upload", data=b"time,value\n", content_type="text/csv")
    as_json = upload(client, auth, "x", '{"time": "2024-01-07"}', content_type="application/json")

    assert no_token.status_code == 401
    assert as_json.status_code == 415
    assert as_json.get_json()["error"] == "send the CSV as the body, with Content-Type text/csv"


def test_series_of_source_upload_are_not_created_by_a_definition(client, auth):
    """The body's schema leaves the source out (one shape per other source): a 400 says where to send."""
    response = client.post("/api/timeseries", json={"name": "x", "source": "upload"}, headers=auth)
    shapes = client.get("/openapi.json").get_json()["components"]["schemas"]["CreateSeries"]

    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "a series of source 'upload' is created by its first upload: POST /api/timeseries/<name>/upload"
    )
    assert sorted(shapes["discriminator"]["mapping"]) == ["csv", "google_trends", "sample"]
    assert client.get("/api/timeseries").get_json() == []


def test_delete_series_removes_it_with_its_versions(client, auth, tmp_path):
    create_csv_series(client, auth, "clicks", write_csv(tmp_path / "clicks.csv", [1.0, 2.0]))

    response = client.delete("/api/timeseries/clicks", headers=auth)

    assert response.status_code == 204 and response.data == b""
    assert client.get("/api/timeseries/clicks").status_code == 404
    assert client.get("/api/timeseries/clicks/versions").status_code == 404
    assert client.delete("/api/timeseries/clicks", headers=auth).status_code == 404


def test_deleting_a_series_used_by_a_data_config_is_409(engine, client, auth):
    apply_file(engine, SAMPLE_YAML)

    response = client.delete("/api/timeseries/sample-flu", headers=auth)

    assert response.status_code == 409
    assert "sample-panel" in response.get_json()["error"]
    assert client.get("/api/timeseries/sample-flu").status_code == 200


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/timeseries/nope"),
        ("get", "/api/timeseries/nope/latest-values"),
        ("get", "/api/timeseries/nope/versions"),
        ("get", "/api/timeseries/nope/versions/1/values"),
        ("post", "/api/timeseries/nope/update-values"),
        ("delete", "/api/timeseries/nope"),
    ],
)
def test_unknown_series_are_404(client, auth, method, url):
    response = getattr(client, method)(url, headers=auth)

    assert response.status_code == 404
    assert response.get_json() == {"error": "unknown series: nope"}


def test_unknown_versions_and_versions_of_another_series_are_404(engine, client, auth):
    add_and_download(engine, "one", "sample", {})
    other = add_and_download(engine, "two", "sample", {}).version_id

    for version in (other, 999):
        response = client.get(f"/api/timeseries/one/versions/{version}/values")
        assert response.status_code == 404
        assert response.get_json() == {"error": f"series 'one' has no version {version}"}
    assert client.get("/api/timeseries/one/versions/x/values").status_code == 404


def test_listing_series_runs_the_same_statements_for_3_and_12_series(engine, app):
    client = app.test_client()
    for i in range(3):
        add_and_download(engine, f"series-{i:02}", "sample", {"periods": 10})
    client.get("/api/timeseries")  # the first request opens the pool's connection

    with statements(app.extensions["forecasting"]["engine"]) as few:
        assert len(client.get("/api/timeseries").get_json()) == 3
    for i in range(3, 12):
        add_and_download(engine, f"series-{i:02}", "sample", {"periods": 10})
    with statements(app.extensions["forecasting"]["engine"]) as many:
        assert len(client.get("/api/timeseries").get_json()) == 12

    assert len(many) == len(few) <= 3
