"""Routes whose handlers read the request themselves, and the OpenAPI that documents them.

FastAPI reads and validates a declared body, solves the handler's dependencies and validates what
it returns; for a single tracked event that bookkeeping cost about as much server CPU as storing
the event. The few endpoints called thousands of times a second therefore read their own bytes:

- `RequestRoute`: the handler is called with the `Request` alone and returns the `Response`.
  Routing, middleware, the body size limit and the error handlers stay as for every route.
- `read_model`: validates a JSON body straight from its bytes, with the 422 every route gives.
- `read_json`: any other body a handler reads, parsed and checked by the rule every route
  follows (`JsonBodyRoute`, which every router uses, applies it to declared bodies): a body that
  is not JSON is `body: not valid JSON`, and text no database can store (NUL, a lone surrogate),
  NaN, Infinity and nesting past `MAX_JSON_DEPTH` are refused naming their field.
- `model_body` / `body_read_by_handler`: the request body's OpenAPI, which FastAPI cannot see
  when the handler reads the body; `document_bodies_read_by_handlers` puts the models it names
  into the app's document, beside the models FastAPI adds.
"""

from __future__ import annotations

import email.message
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from herald.errors import FieldError, InvalidInput, validation_fields
from herald.validation import NotJson, parse_json, unstorable_values

Model = TypeVar("Model", bound=BaseModel)

COMPONENTS_REF = "#/components/schemas/{model}"

# Models named by `model_body`, in the order they were declared.
_handler_models: list[type[BaseModel]] = []


def read_json(body: bytes | str) -> Any:
    """A JSON body, with every unstorable value in it refused as a field error."""
    value = json_or_invalid(body)
    problems = unstorable_values(value)
    if problems:
        raise InvalidInput.for_fields(problems)
    return value


def json_or_invalid(body: bytes | str) -> Any:
    """A JSON body as parsed, or a 422 naming `body`; its values are the caller's to check
    (batches check each item on its own, so that a bad one does not sink the rest)."""
    try:
        return parse_json(body)
    except NotJson as exc:
        raise InvalidInput.for_field("body", str(exc)) from None


def _declares_json(content_type: str | None) -> bool:
    """Whether FastAPI reads this request's body as JSON (its strict rule: only when said so)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class _CheckedJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = read_json(await self.body())
        return self._json


class JsonBodyRoute(APIRoute):
    """A route whose declared JSON body is parsed by `read_json` before FastAPI sees it, so that
    every route refuses the same bad JSON the same way (FastAPI's own parser answers a too-deep
    body with a 400 naming no field and stores NaN as null). Every router uses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            request = _CheckedJsonRequest(request.scope, request.receive)
            if _declares_json(request.headers.get("content-type")) and await request.body():
                await request.json()  # a 422 here, before FastAPI's parser would answer 400
            return await handler(request)

        return checked


class RequestRoute(JsonBodyRoute):
    """A route whose async handler takes the `Request` and returns its `Response` itself; declare
    its body with `openapi_extra=model_body(...)` and its answer with `response_model`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not inspect.iscoroutinefunction(self.endpoint):
            raise TypeError(f"{self.path}: a RequestRoute handler must be `async def`")
        handler: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return handler


def read_model(model: type[Model], body: bytes) -> Model:
    """`model` validated from a JSON body's bytes in one pass; a 422 naming each bad field, or
    the body itself when it is not JSON or not an object."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems: list[FieldError] = []
        for error in exc.errors():
            if error["type"] == "json_invalid":
                # Pydantic's parser refuses lone surrogates and deep nesting as invalid JSON;
                # the general rule names the field (or says why the body is not read).
                read_json(body)
                problems.append(FieldError("body", "not valid JSON"))
            elif not error["loc"]:
                problems.append(FieldError("body", "must be a JSON object"))
            else:
                problems.extend(validation_fields([error]))
        raise InvalidInput.for_fields(problems) from None


def body_read_by_handler(schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """`openapi_extra` for a JSON body that its handler reads itself."""
    body: dict[str, Any] = {"required": True}
    if description is not None:
        body["description"] = description
    body["content"] = {"application/json": {"schema": schema}}
    return {"requestBody": body}


def model_body(model: type[BaseModel], description: str | None = None) -> dict[str, Any]:
    """`openapi_extra` for a body that is `model`, as a reference to its component."""
    if model not in _handler_models:
        _handler_models.append(model)
    return body_read_by_handler({"$ref": COMPONENTS_REF.format(model=model.__name__)}, description)


def document_bodies_read_by_handlers(app: FastAPI) -> None:
    """Have `app`'s OpenAPI document include the models of `model_body` in its components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_handler_models(generate())
        return app.openapi_schema  # type: ignore[return-value]  # set by generate()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def _add_handler_models(openapi: dict[str, Any]) -> None:
    """Add the models of `model_body`, and those they refer to, to the OpenAPI components."""
    if not _handler_models:
        return
    refs, document = models_json_schema(
        [(model, "validation") for model in _handler_models], ref_template=COMPONENTS_REF
    )
    for model in _handler_models:
        expected = COMPONENTS_REF.format(model=model.__name__)
        if refs[model, "validation"].get("$ref") != expected:
            raise RuntimeError(f"{model.__name__} is documented under another name")
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, generated in document.get("$defs", {}).items():
        schema = _without_nulls(generated)
        if components.setdefault(name, schema) != schema:
            raise RuntimeError(f"two different schemas are named {name}")


def _without_nulls(value: Any) -> Any:
    """The schema as FastAPI writes its document, which leaves out every null (`default: null`
    would also make generated clients require optional fields)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
