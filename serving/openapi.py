"""``/openapi.json``: placeholder, filled in below."""

from flask import Blueprint

bp = Blueprint("openapi", __name__)
