"""``/api``: the REST surface, one blueprint holding the per-concern ones.

The rules every API request passes — writes need the token, bodies are bounded —
are registered here once, for all of them.
"""

from __future__ import annotations

from flask import Blueprint

from serving import api_configs, api_models, api_series
from serving.auth import protect_writes
from serving.jsonio import refuse_oversize_body

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(protect_writes)
bp.before_request(refuse_oversize_body)  # after the token check: an unauthorised caller learns nothing
for _module in (api_series, api_configs, api_models):
    bp.register_blueprint(_module.bp)
