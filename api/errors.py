"""Client errors in one shape. A 422 always has FastAPI's validation shape — a list of
`{loc, msg, type}` — whether the body failed the schema or a rule of the procedure; other 4xx
carry a `detail` sentence."""

from typing import Any

from fastapi import HTTPException


def problem(msg: str, *loc: str | int) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


def unprocessable(msg: str, *loc: str | int) -> HTTPException:
    return HTTPException(422, detail=[problem(msg, *loc)])


def header_problem(msg: str, name: str = "Idempotency-Key") -> dict[str, Any]:
    return {"loc": ["header", name], "msg": msg, "type": "value_error"}
