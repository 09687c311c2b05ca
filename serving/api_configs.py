"""``/api/model-config``, ``/api/data-config``, ``/api/preprocessing-config``: list, create, get, delete.

Creation runs the core's validators (the same as ``forecasting apply``); a config
used by a model cannot be deleted (409). No PUT/PATCH: a model version records the
params it was trained with, and configs are replaced by new names.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from forecasting.catalog import data_configs, params_configs
from forecasting.configs import create_data_config, create_params_config, delete_config
from serving import context
from serving.jsonio import body, field

bp = Blueprint("configs", __name__)

PARAMS_RESOURCES = {"model-config": "ml_config", "preprocessing-config": "preprocessing_config"}


def _params_routes(resource: str, kind: str) -> None:
    def list_configs():
        with context.engine().connect() as conn:
            return jsonify(params_configs(conn, kind))

    def create():
        payload = body()
        name = field(payload, "name", str)
        create_params_config(context.engine(), kind, name, field(payload, "params", dict))
        with context.engine().connect() as conn:
            return jsonify(params_configs(conn, kind, name)[0]), 201

    def get(name: str):
        with context.engine().connect() as conn:
            return jsonify(params_configs(conn, kind, name)[0])

    def delete(name: str):
        delete_config(context.engine(), kind, name)
        return "", 204

    endpoint = kind.replace("_", "-")
    bp.add_url_rule(f"/{resource}", f"list-{endpoint}", list_configs, methods=["GET"])
    bp.add_url_rule(f"/{resource}", f"create-{endpoint}", create, methods=["POST"])
    bp.add_url_rule(f"/{resource}/<name>", f"get-{endpoint}", get, methods=["GET"])
    bp.add_url_rule(f"/{resource}/<name>", f"delete-{endpoint}", delete, methods=["DELETE"])


for _resource, _kind in PARAMS_RESOURCES.items():
    _params_routes(_resource, _kind)


@bp.get("/data-config")
def list_data_configs():
    with context.engine().connect() as conn:
        return jsonify(data_configs(conn))


@bp.post("/data-config")
def create_data():
    payload = body()
    name = field(payload, "name", str)
    create_data_config(
        context.engine(), name, field(payload, "targets", list), field(payload, "features", list, [])
    )
    with context.engine().connect() as conn:
        return jsonify(data_configs(conn, name)[0]), 201


@bp.get("/data-config/<name>")
def get_data_config(name: str):
    with context.engine().connect() as conn:
        return jsonify(data_configs(conn, name)[0])


@bp.delete("/data-config/<name>")
def delete_data_config(name: str):
    delete_config(context.engine(), "data_config", name)
    return "", 204
