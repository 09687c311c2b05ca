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
from serving.apidoc import Answer, operation
from serving.schemas import (
    CreateDataConfig,
    CreateModelConfig,
    CreatePreprocessingConfig,
    DataConfig,
    ParamsConfig,
)

bp = Blueprint("configs", __name__)

PARAMS_RESOURCES = {  # resource: kind, what it is, the example of its name, its body
    "model-config": (
        "ml_config",
        "ML config (LGBMRegressor keyword arguments)",
        "lgbm-small",
        CreateModelConfig,
    ),
    "preprocessing-config": (
        "preprocessing_config",
        "preprocessing config",
        "weekly-12",
        CreatePreprocessingConfig,
    ),
}


ParamsBody = CreateModelConfig | CreatePreprocessingConfig


def _params_routes(resource: str, kind: str, what: str, example: str, model: type[ParamsBody]) -> None:
    name_param = (what.split(" (")[0], example)

    @operation(f"List every {what}", {200: Answer("All of them", [ParamsConfig])}, (503,))
    def list_configs():
        with context.engine().connect() as conn:
            return jsonify(params_configs(conn, kind))

    @operation(
        f"Create a {what} (validated as `forecasting apply` does)",
        {201: Answer("The new config", ParamsConfig)},
        (404, 409, 503),
        body=model,
        write=True,
    )
    def create(payload: ParamsBody):
        create_params_config(context.engine(), kind, payload.name, payload.params)
        with context.engine().connect() as conn:
            return jsonify(params_configs(conn, kind, payload.name)[0]), 201

    @operation(f"One {what}", {200: Answer("The config", ParamsConfig)}, (404, 503), name=name_param)
    def get(name: str):
        with context.engine().connect() as conn:
            return jsonify(params_configs(conn, kind, name)[0])

    @operation(
        f"Delete a {what} (refused while a model uses it)",
        {204: Answer("Deleted")},
        (404, 409, 503),
        name=name_param,
        write=True,
    )
    def delete(name: str):
        delete_config(context.engine(), kind, name)
        return "", 204

    endpoint = kind.replace("_", "-")
    bp.add_url_rule(f"/{resource}", f"list-{endpoint}", list_configs, methods=["GET"])
    bp.add_url_rule(f"/{resource}", f"create-{endpoint}", create, methods=["POST"])
    bp.add_url_rule(f"/{resource}/<name>", f"get-{endpoint}", get, methods=["GET"])
    bp.add_url_rule(f"/{resource}/<name>", f"delete-{endpoint}", delete, methods=["DELETE"])


for _resource, _declared in PARAMS_RESOURCES.items():
    _params_routes(_resource, *_declared)

DATA_CONFIG = ("data config", "sample-panel")


@bp.get("/data-config")
@operation("List every data config", {200: Answer("All of them", [DataConfig])}, (503,))
def list_data_configs():
    with context.engine().connect() as conn:
        return jsonify(data_configs(conn))


@bp.post("/data-config")
@operation(
    "Create a data config (validated as `forecasting apply` does)",
    {201: Answer("The new config", DataConfig)},
    (404, 409, 503),
    body=CreateDataConfig,
    write=True,
)
def create_data(payload: CreateDataConfig):
    create_data_config(context.engine(), payload.name, payload.targets, payload.features)
    with context.engine().connect() as conn:
        return jsonify(data_configs(conn, payload.name)[0]), 201


@bp.get("/data-config/<name>")
@operation("One data config", {200: Answer("The config", DataConfig)}, (404, 503), name=DATA_CONFIG)
def get_data_config(name: str):
    with context.engine().connect() as conn:
        return jsonify(data_configs(conn, name)[0])


@bp.delete("/data-config/<name>")
@operation(
    "Delete a data config (refused while a model uses it)",
    {204: Answer("Deleted")},
    (404, 409, 503),
    name=DATA_CONFIG,
    write=True,
)
def delete_data_config(name: str):
    delete_config(context.engine(), "data_config", name)
    return "", 204
