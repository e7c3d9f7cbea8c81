"""Route registration that validates with pydantic and documents the same models.

`spec.route(...)` registers a Flask view, parses its JSON body and query string
into the declared models (errors become the JSON error contract), and records the
operation so `/openapi.json` is generated from exactly what is enforced.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import BaseConverter

from app.errors import ApiError, Unprocessable
from app.schemas import ErrorResponse

REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    400: "Malformed request",
    401: "Missing or invalid token",
    403: "Not allowed",
    404: "Not found, or not yours",
    409: "Illegal state change",
    413: "Too large",
    422: "Well-formed but invalid",
    429: "Too many requests",
    503: "A dependency is down",
}


class PieceName(BaseConverter):
    """A piece name in a URL; never a word the pieces routes use themselves."""

    regex = r"(?!validate$)[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"


# URL converters (registered by app.api.register_blueprints) and their OpenAPI schemas.
CONVERTERS = {"piece": PieceName}
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "piece": {"type": "string", "pattern": "^" + PieceName.regex + "$"},
}


@dataclass
class Operation:
    path: str
    method: str
    summary: str
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | str | None]
    auth: bool
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()


class ApiSpec:
    def __init__(self, title: str, version: str):
        self.title = title
        self.version = version
        self.operations: list[Operation] = []

    def route(
        self,
        bp: Blueprint,
        rule: str,
        method: str,
        *,
        summary: str,
        responses: dict[int, type[BaseModel] | str | None],
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        auth: bool = True,
        errors: tuple[int, ...] = (),
    ) -> Callable:
        path = (bp.url_prefix or "") + rule
        params = {
            name: PATH_SCHEMAS.get(kind, {"type": "string"})
            for kind, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule)
        }
        op = Operation(
            path=re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path),
            method=method.lower(),
            summary=summary,
            tag=bp.name,
            body=body,
            query=query,
            responses=responses,
            auth=auth,
            path_params=params,
            errors=_error_statuses(body, query, auth, errors),
        )
        self.operations.append(op)

        def decorator(view: Callable) -> Callable:
            @functools.wraps(view)
            def wrapper(**path_values: Any):
                if auth:
                    from app.auth import authenticate

                    authenticate()
                kwargs: dict[str, Any] = dict(path_values)
                if body is not None:
                    kwargs["body"] = body.model_validate(_json_object())
                if query is not None:
                    kwargs["query"] = query.model_validate(_single_values())
                return _render(view(**kwargs))

            bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
            return wrapper

        return decorator

    def document(self) -> dict[str, Any]:
        models = {m for op in self.operations for m in _models(op)} | {ErrorResponse}
        _, schemas = models_json_schema(
            [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
            ref_template=REF,
        )
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method] = _operation_doc(op)
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schemas.get("$defs", {}),
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }


def _error_statuses(body, query, auth: bool, declared: tuple[int, ...]) -> tuple[int, ...]:
    statuses = {400, 503, *declared}
    if body is not None:
        statuses |= {413, 422}
    if query is not None:
        statuses.add(422)
    if auth:
        statuses.add(401)
    return tuple(sorted(statuses))


def _models(op: Operation) -> list[type[BaseModel]]:
    found = [m for m in (op.body, op.query) if m is not None]
    found += [m for m in op.responses.values() if isinstance(m, type)]
    return found


def _operation_doc(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": f"{op.method}_{op.path}".replace("/", "_"),
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in op.path_params.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "schema": prop,
                }
            )
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}
            },
        }
    responses: dict[str, Any] = {}
    for status, model in op.responses.items():
        if isinstance(model, type):
            responses[str(status)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}
                },
            }
        elif isinstance(model, str):  # a media type with free-form content
            responses[str(status)] = {
                "description": "OK",
                "content": {model: {"schema": {"type": "string"}}},
            }
        else:
            responses[str(status)] = {"description": "OK"}
    for status in op.errors:
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}
            },
        }
    doc["responses"] = responses
    if op.auth:
        doc["security"] = [{"bearer": []}]
    return doc


def _json_object() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError("request body must be a JSON object", code="malformed")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(f"request body is not valid JSON: {exc}", code="malformed") from None
    if not isinstance(data, dict):
        raise Unprocessable("request body must be a JSON object", code="invalid")
    return data


def _single_values() -> dict[str, str]:
    repeated = [key for key in request.args if len(request.args.getlist(key)) > 1]
    if repeated:
        raise ApiError(f"query parameter {repeated[0]!r} given more than once", code="malformed")
    return request.args.to_dict()


def _render(result: Any) -> Any:
    """Views return a model, or (model, status); models are dumped as JSON."""
    status = 200
    if isinstance(result, tuple):
        result, status = result
    if isinstance(result, BaseModel):
        return jsonify(result.model_dump(mode="json")), status
    if isinstance(result, Response):
        return result
    return result, status
