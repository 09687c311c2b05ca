"""What every text and JSON-like value a user gives must be, whichever way it comes in.

The REST bodies, the CLI's arguments and the YAML files of ``apply`` all pass these
checks (names through :func:`forecasting.series.validate_name`, params through their
validators), so a value refused on one path is refused on all:

- text holds no NUL character (Postgres cannot store one) and no lone surrogate (not
  Unicode text: it cannot be encoded as UTF-8, so no database or answer can hold it);
- JSON-like values (params, bodies) are nested at most :data:`MAX_DEPTH` levels (a
  deeper one exhausted Python's recursion in every later reader) and hold only texts,
  finite numbers, booleans, nulls, lists and mappings with text keys: NaN and the
  infinities are not JSON, and one stored made every later answer invalid JSON;
- and hold at most :data:`MAX_VALUES` values in all: YAML's aliases let a few hundred
  bytes stand for a billion values, which every later reader would walk.
"""

from __future__ import annotations

import math
import re
from typing import Any

from forecasting.errors import InvalidInput, cut, shown

MAX_DEPTH = 32  # levels of lists and mappings; params need three or four
MAX_VALUES = 100_000  # values in one document or params; a large apply document holds a few thousand
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return "holds a NUL character"
    if _SURROGATE.search(text):
        return "holds a lone surrogate (it is not valid Unicode text)"
    return None


def check_text(what: str, text: str) -> str:
    """``text`` if it can be stored and sent; else InvalidInput naming ``what``."""
    problem = text_problem(text)
    if problem:
        raise InvalidInput(f"{what} {shown(text)} {problem}")
    return text


def too_deep(what: str) -> InvalidInput:
    return InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep")


def check_json(what: str, value: Any) -> Any:
    """``value`` if it is plain JSON within the bounds above; else InvalidInput naming where it fails.

    Walks the value without recursion, so the check itself cannot exhaust the stack.
    """
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    seen = 0
    while pending:
        item, where, depth = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise InvalidInput(f"{what} holds more than {MAX_VALUES} values")
        at = f"{what}: {where} " if where else f"{what} "
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise InvalidInput(f"{at}{problem}")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{at}is {item}, not a finite number")
        elif isinstance(item, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise too_deep(what)
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not isinstance(key, str):
                        raise InvalidInput(f"{at}has the key {shown(key)}: keys must be texts")
                    problem = text_problem(key)
                    if problem:
                        raise InvalidInput(f"{at}has a key that {problem}")
                    pending.append((inner, f"{where}.{cut(key)}" if where else cut(key), depth + 1))
            else:
                pending.extend((inner, f"{where}[{i}]", depth + 1) for i, inner in enumerate(item))
        elif item is not None and not isinstance(item, (bool, int)):
            raise InvalidInput(
                f"{at}is {type(item).__name__}: only texts, numbers, booleans, null, lists and mappings are "
                "allowed"
            )
    return value
