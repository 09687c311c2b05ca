"""Replay vcrpy cassettes of real Google Trends answers through ``responses``, or emulate others.

vcrpy cannot replay them under urllib3 2, so each interaction is decoded (bodies are
often gzip behind ``!!binary``) and registered by method and URL path; the query
string (req, token, tz, hl) is ignored because it varies with the caller's settings.
"""

from __future__ import annotations

import calendar
import gzip
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
import yaml
from requests import PreparedRequest

JSON_PREFIX = b")]}'"
# Recorded headers that describe the recorded transfer, not the decoded body we replay.
_TRANSFER_HEADERS = {"content-encoding", "transfer-encoding", "content-length", "content-type"}


@dataclass(frozen=True)
class Interaction:
    method: str
    uri: str
    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def url_pattern(self) -> re.Pattern[str]:
        """Scheme, host and path of the recorded URI, with any query string."""
        parts = urlsplit(self.uri)
        return url_pattern(f"{parts.scheme}://{parts.netloc}{parts.path}")

    def json(self) -> Any:
        """The JSON body without Google's anti-hijacking prefix (``)]}'`` or ``)]}',``)."""
        text = self.body.decode("utf-8")
        return json.loads(text[text.index("\n") + 1 :])


def url_pattern(base: str) -> re.Pattern[str]:
    """Match ``base`` exactly, followed by any query string."""
    return re.compile(re.escape(base) + r"(\?.*)?$")


def load_cassette(path: Path) -> list[Interaction]:
    """Decode every interaction of a cassette; ``!!binary`` loads as bytes under safe_load."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [_decode(entry) for entry in document["interactions"]]


def register(mock: responses.RequestsMock, interactions: list[Interaction]) -> None:
    """Add the interactions in order; ``responses`` serves repeated matches in that order."""
    for interaction in interactions:
        mock.add(
            responses.Response(
                method=interaction.method,
                url=interaction.url_pattern,
                status=interaction.status,
                body=interaction.body,
                headers=list(interaction.headers),
                content_type=interaction.content_type,
            )
        )


def _decode(entry: dict[str, Any]) -> Interaction:
    response = entry["response"]
    body = response["body"]["string"]
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {k.lower(): v for k, v in response["headers"].items()}
    if "gzip" in headers.get("content-encoding", []) or body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    content_type = headers.get("content-type", ["text/plain"])[0]
    if body.startswith(JSON_PREFIX):
        content_type = "application/json; charset=utf-8"  # pytrends parses only JSON types
    kept = tuple(
        (name, value)
        for name, values in response["headers"].items()
        if name.lower() not in _TRANSFER_HEADERS
        for value in values
    )
    return Interaction(
        method=entry["request"]["method"],
        uri=entry["request"]["uri"],
        status=response["status"]["code"],
        content_type=content_type,
        headers=kept,
        body=body,
    )


def timeline_answer(recorded: Interaction, times: Sequence[datetime], values: Sequence[int]) -> Interaction:
    """The recorded timeline answer (``widgetdata/multiline``) with other points, the last partial.

    Emulates answers the recordings lack, such as the monthly points Google sends for a
    window longer than five years. Each point has Google's fields; ``formattedTime`` is
    the plain date whatever the granularity, since pytrends reads only ``time``,
    ``value`` and ``isPartial``.
    """
    points = [
        {
            "time": str(calendar.timegm(time.timetuple())),
            "formattedTime": time.strftime("%b %-d, %Y"),
            "formattedAxisTime": time.strftime("%b %-d, %Y"),
            "value": [int(value)],
            "hasData": [True],
            "formattedValue": [str(int(value))],
        }
        for time, value in zip(times, values, strict=True)
    ]
    points[-1]["isPartial"] = True
    document = {"default": {"timelineData": points, "averages": []}}
    return replace(recorded, body=_prefix(recorded.body) + json.dumps(document).encode())


def serve_timelines(
    mock: responses.RequestsMock, recorded: list[Interaction], timelines: Mapping[str, Interaction]
) -> None:
    """Google answering each keyword with its own timeline answer, as many times as asked.

    The recorded cookie answer is served as is; the recorded explore answer comes back
    with the asked keyword as the timeline widget's token, which pytrends sends with
    its timeline request, so that request picks the keyword's answer.
    """
    cookie = next(i for i in recorded if i.method == "GET" and "/trends/explore" in i.uri)
    explore = next(i for i in recorded if i.method == "POST")
    register(mock, [cookie])

    def answer_explore(request: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        asked = json.loads(parse_qs(urlsplit(request.url).query)["req"][0])
        keyword = asked["comparisonItem"][0]["keyword"]
        document = explore.json()
        for widget in document["widgets"]:
            if widget["id"] == "TIMESERIES":
                widget["token"] = keyword
        return explore.status, {}, _prefix(explore.body) + json.dumps(document).encode()

    def answer_timeline(request: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        answer = timelines[parse_qs(urlsplit(request.url).query)["token"][0]]
        return answer.status, {}, answer.body

    timeline = next(iter(timelines.values()))
    for method, pattern, callback, content_type in (
        ("POST", explore.url_pattern, answer_explore, explore.content_type),
        ("GET", timeline.url_pattern, answer_timeline, timeline.content_type),
    ):
        mock.add_callback(method, pattern, callback=callback, content_type=content_type)


def _prefix(body: bytes) -> bytes:
    """Google's anti-hijacking first line, kept as recorded (its length differs by endpoint)."""
    return body[: body.index(b"\n") + 1]
