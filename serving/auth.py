"""Writes need ``Authorization: Bearer <FORECASTING_API_TOKEN>``; reads are open."""

from __future__ import annotations

import hmac

from flask import request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from serving import context

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def protect_writes() -> None:
    """``before_request`` hook of the ``/api`` blueprint: the one rule for who may write."""
    if request.method in READ_METHODS:
        return
    token = context.settings().api_token
    if not token:
        raise Forbidden(
            "writes are disabled on this service: set FORECASTING_API_TOKEN in its environment "
            "and send 'Authorization: Bearer <token>'"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized(
            "this write needs 'Authorization: Bearer <token>' with the service's FORECASTING_API_TOKEN",
            www_authenticate=WWWAuthenticate("Bearer", {"realm": "forecasting"}),
        )
