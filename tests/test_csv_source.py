"""The csv source reads real Google Trends website exports and plain or wide CSV."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from forecasting.errors import InvalidInput, SourceError
from forecasting.sources import get_source
from forecasting.sources.base import SeriesSpec, clean_download
from forecasting.sources.csv_file import CsvSource, read_trends_csv
from forecasting.sources.csv_roots import csv_roots


@pytest.fixture
def exports(shared_data: Path) -> Path:
    return shared_data / "multitimeline"


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def reading(root: Path) -> CsvSource:
    """The csv source reading under ``root``, as FORECASTING_CSV_ROOTS=root configures it."""
    return CsvSource(csv_roots(str(root)))


def download(path: Path, **params: str) -> pd.DataFrame:
    source = reading(path.parent)
    clean = source.validate_params("s", {"path": str(path), **params})
    return source.download(SeriesSpec(name="s", source="csv", params=clean))


# Real exports from the Google Trends website


def test_ukrainian_headers_are_read_without_knowing_the_header_words(exports: Path) -> None:
    frame = read_trends_csv((exports / "ua-pandemic-weekly-uk-headers.csv").read_bytes())

    assert len(frame) == 52
    assert frame["time"].iloc[0] == pd.Timestamp("2020-01-05")
    assert frame["time"].iloc[-1] == pd.Timestamp("2020-12-27")
    peak = frame.loc[frame["value"].idxmax()]
    assert (peak["time"], peak["value"]) == (pd.Timestamp("2020-03-08"), 100.0)
    assert frame["value"].iloc[4] == 9.0


def test_monthly_export_rows_are_the_first_day_of_the_month(exports: Path) -> None:
    frame = read_trends_csv(
        (exports / "worldwide-diet-gym-finance-monthly.csv").read_bytes(), column="finance"
    )

    assert len(frame) == 199
    assert frame["time"].iloc[0] == pd.Timestamp("2004-01-01")
    assert frame["time"].iloc[-1] == pd.Timestamp("2020-07-01")
    assert (frame["time"].dt.day == 1).all()
    assert frame["value"].iloc[:3].tolist() == [48.0, 50.0, 46.0]
    assert frame["value"].iloc[-1] == 63.0


def test_multi_term_export_without_column_asks_for_one(exports: Path) -> None:
    with pytest.raises(ValueError) as error:
        read_trends_csv((exports / "us-ozempic-glp1-weekly.csv").read_bytes())

    assert str(error.value) == (
        "the header (line 3) has 2 value columns: choose one with param column "
        "(its header, or the search term before ': (')"
    )


@pytest.mark.parametrize(
    ("column", "first", "last"),
    [
        ("glp-1", 12.0, 25.0),
        ("ozempic", 88.0, 64.0),
        ("ozempic: (United States)", 88.0, 64.0),
    ],
)
def test_multi_term_export_column_matches_the_term_or_the_whole_header(
    exports: Path, column: str, first: float, last: float
) -> None:
    frame = read_trends_csv((exports / "us-ozempic-glp1-weekly.csv").read_bytes(), column=column)

    assert len(frame) == 53
    assert frame["time"].iloc[0] == pd.Timestamp("2024-09-15")
    assert frame["time"].iloc[-1] == pd.Timestamp("2025-09-14")
    assert (frame["value"].iloc[0], frame["value"].iloc[-1]) == (first, last)


def test_unknown_column_error_names_the_header_line(exports: Path) -> None:
    with pytest.raises(ValueError, match="^column 'semaglutide' is not in the header \\(line 3\\)$"):
        read_trends_csv((exports / "us-ozempic-glp1-weekly.csv").read_bytes(), column="semaglutide")


def test_download_of_a_real_export_passes_clean_download_unchanged(exports: Path) -> None:
    frame = download(exports / "us-ozempic-glp1-weekly.csv", column="glp-1")
    clean = clean_download("s", frame)

    assert list(frame.columns) == ["time", "value"]
    assert frame["time"].dtype.kind == "M" and frame["time"].dt.tz is None
    assert frame["value"].dtype == "float64"
    pd.testing.assert_frame_equal(clean, frame, check_dtype=False)
    assert frame["value"].iloc[48] == 36.0  # 2025-08-17, the ozempic peak week


def test_a_column_gone_from_the_file_after_definition_is_a_source_error_naming_the_series(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "date,a,b\n2024-01-07,1,2\n")
    source = reading(tmp_path)
    params = source.validate_params("s", {"path": str(path), "column": "b"})
    write(tmp_path, "date,a\n2024-01-07,1\n")

    with pytest.raises(SourceError) as error:
        source.download(SeriesSpec(name="s", source="csv", params=params))

    assert str(error.value) == f"series 's': {path}: column 'b' is not in the header (line 1)"
    assert error.value.series == "s"


def test_preamble_of_free_text_lines_before_a_quoted_header_is_skipped(shared_data: Path) -> None:
    flu = shared_data / "google-flu-trends" / "us-historic-v2.txt"
    frame = read_trends_csv(flu.read_bytes(), column="United States")

    assert len(frame) == 541
    assert frame["time"].iloc[0] == pd.Timestamp("2003-06-01")
    assert frame["time"].iloc[-1] == pd.Timestamp("2013-10-06")
    assert frame["value"].iloc[:2].tolist() == [0.695, 0.917]


def test_date_format_reads_month_day_two_digit_year_dates(shared_data: Path) -> None:
    frame = read_trends_csv(
        (shared_data / "iclaims" / "iclaims_example.csv").read_bytes(),
        column="claims",
        date_format="%m/%d/%y",
    )

    assert len(frame) == 575
    assert frame["time"].iloc[0] == pd.Timestamp("2010-01-03")
    assert frame["value"].iloc[:2].tolist() == [651215.0, 825891.0]


# Small files


def test_plain_time_value_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "time,value\n2024-01-07,3.5\n2024-01-14,4\n")

    frame = download(path)

    assert frame["time"].tolist() == [pd.Timestamp("2024-01-07"), pd.Timestamp("2024-01-14")]
    assert frame["value"].tolist() == [3.5, 4.0]


def test_wide_csv_column_picks_by_exact_header(tmp_path: Path) -> None:
    path = write(tmp_path, "date,a,b,c\n2024-01-07,1,2,3\n2024-01-14,4,5,6\n")

    assert download(path, column="b")["value"].tolist() == [2.0, 5.0]
    with pytest.raises(InvalidInput, match="^series 's': .*: the header \\(line 1\\) has 3 value columns"):
        download(path)


def test_less_than_one_is_half_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, "Category: All categories\n\nWeek,x: (US)\n2024-01-07,<1\n2024-01-14,2\n")

    assert download(path)["value"].tolist() == [0.5, 2.0]


def test_less_than_one_zero_gives_a_conservative_floor(tmp_path: Path) -> None:
    path = write(tmp_path, "Week,x: (US)\n2024-01-07,<1\n2024-01-14,2\n")

    assert download(path, less_than_one="0")["value"].tolist() == [0.0, 2.0]


def test_date_format_reads_dates_that_are_not_iso(tmp_path: Path) -> None:
    path = write(tmp_path, "week,claims\n1/3/10,5\n1/10/10,6\n")

    frame = download(path, date_format="%m/%d/%y")

    assert frame["time"].tolist() == [pd.Timestamp("2010-01-03"), pd.Timestamp("2010-01-10")]


def test_without_date_format_non_iso_dates_are_not_data(tmp_path: Path) -> None:
    path = write(tmp_path, "week,claims\n1/3/10,5\n")

    with pytest.raises(SourceError, match="no data rows"):
        download(path)


def test_empty_value_cells_are_dropped_for_a_column_that_starts_late(tmp_path: Path) -> None:
    path = write(tmp_path, "date,a,b\n2024-01-07,1,\n2024-01-14,2,\n2024-01-21,3,7\n")

    frame = download(path, column="b")

    assert frame["time"].tolist() == [pd.Timestamp("2024-01-21")]
    assert frame["value"].tolist() == [7.0]


def test_a_utf8_bom_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    content = "\ufeff2024-01-07,1\n2024-01-14,2\n".encode()

    for source in (content, io.BytesIO(content)):
        with pytest.raises(ValueError, match="no header line just above the first data row \\(line 1\\)"):
            read_trends_csv(source)


def test_bad_cell_is_a_source_error_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Category: All\n\nWeek,x\n2024-01-07,1\n2024-01-14,n/a\n")

    with pytest.raises(SourceError) as error:
        download(path)

    assert str(error.value) == f"series 's': {path}: line 5: the value in column 2 is not a number"


def test_file_without_data_rows_is_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path, "Category: All categories\n\nWeek,x: (US)\n")

    with pytest.raises(SourceError, match="no data rows"):
        download(path)


def test_file_vanished_after_validation_is_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path, "time,value\n2024-01-07,1\n")
    source = reading(tmp_path)
    params = source.validate_params("s", {"path": str(path)})
    path.unlink()

    with pytest.raises(SourceError, match="series 's': cannot read .*data.csv"):
        source.download(SeriesSpec(name="s", source="csv", params=params))


# Parameter validation


def test_params_from_the_cli_are_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "time,value\n2024-01-07,1\n")
    monkeypatch.chdir(tmp_path)

    params = CsvSource(csv_roots(None, cwd_fallback=True)).validate_params(
        "s", {"path": "data.csv", "column": "value", "less_than_one": "0.25", "date_format": "%Y"}
    )

    assert params == {
        "path": str(tmp_path.resolve() / "data.csv"),
        "column": "value",
        "less_than_one": 0.25,
        "date_format": "%Y",
    }


def test_less_than_one_defaults_to_half(tmp_path: Path) -> None:
    path = write(tmp_path, "time,value\n2024-01-07,1\n")

    assert reading(tmp_path).validate_params("s", {"path": str(path)})["less_than_one"] == 0.5


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="series 's': file not found: .*nope.csv"):
        reading(tmp_path).validate_params("s", {"path": str(tmp_path / "nope.csv")})


def test_path_is_required(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="series 's': param path is required"):
        reading(tmp_path).validate_params("s", {"column": "x"})


def test_unknown_param_is_invalid_input(tmp_path: Path) -> None:
    path = write(tmp_path, "time,value\n2024-01-07,1\n")

    with pytest.raises(InvalidInput, match="unknown param\\(s\\) sheet"):
        reading(tmp_path).validate_params("s", {"path": str(path), "sheet": "1"})


@pytest.mark.parametrize("raw", ["1", "-0.1", "half"])
def test_less_than_one_outside_zero_to_one_is_invalid_input(tmp_path: Path, raw: str) -> None:
    path = write(tmp_path, "time,value\n2024-01-07,1\n")

    with pytest.raises(InvalidInput, match="series 's': param less_than_one"):
        reading(tmp_path).validate_params("s", {"path": str(path), "less_than_one": raw})


def test_date_format_without_a_directive_is_invalid_input(tmp_path: Path) -> None:
    path = write(tmp_path, "time,value\n2024-01-07,1\n")

    with pytest.raises(InvalidInput, match="param date_format='mm/dd/yy'"):
        reading(tmp_path).validate_params("s", {"path": str(path), "date_format": "mm/dd/yy"})


def test_a_column_not_in_the_file_is_refused_when_the_series_is_defined(exports: Path) -> None:
    path = exports / "worldwide-diet-gym-finance-monthly.csv"

    with pytest.raises(InvalidInput) as error:
        reading(exports).validate_params("s", {"path": str(path), "column": "yoga"})

    assert str(error.value) == f"series 's': {path.resolve()}: column 'yoga' is not in the header (line 3)"


def test_a_term_matching_several_columns_is_refused_when_the_series_is_defined(tmp_path: Path) -> None:
    path = write(tmp_path, "Week,tea: (US),tea: (UK)\n2024-01-07,1,2\n")

    with pytest.raises(InvalidInput) as error:
        reading(tmp_path).validate_params("s", {"path": str(path), "column": "tea"})

    assert str(error.value) == (
        f"series 's': {path}: column 'tea' matches 2 columns of the header (line 1) by search term; "
        "give the whole header"
    )


def test_a_file_that_is_not_utf8_text_is_refused_when_the_series_is_defined(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"time,value\n2024-01-07,\xff\xfe\n")

    with pytest.raises(InvalidInput) as error:
        reading(tmp_path).validate_params("s", {"path": str(path)})

    assert str(error.value) == f"series 's': {path}: not UTF-8 text"


def test_a_directory_is_refused_when_the_series_is_defined(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="^series 's': .* is not a regular file$"):
        reading(tmp_path).validate_params("s", {"path": str(tmp_path)})


def test_a_file_without_data_rows_yet_is_left_to_its_download(tmp_path: Path) -> None:
    """Its header cannot be found before a data row; the download reports it (502 from the service)."""
    path = write(tmp_path, "not a trends export\n")

    assert reading(tmp_path).validate_params("s", {"path": str(path), "column": "x"})["column"] == "x"


def test_csv_source_is_registered_and_not_synthetic() -> None:
    source = get_source("csv")

    assert isinstance(source, CsvSource)
    assert source.synthetic is False
