"""Temporal's remote codec, for operators: the Web UI (`--ui-codec-endpoint`) and the CLI
(`temporal workflow show --codec-endpoint … --codec-auth "Bearer …"`) send the encrypted
payloads here and show what they hold. Only an operator's token opens them."""

from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, HTTPException, status
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payloads

from api.deps import ContextDep, OperatorDep
from motcua.codec import UnknownKeyError

router = APIRouter(prefix="/codec", tags=["operators"])

PayloadsJson = dict[str, Any]


def _payloads(body: PayloadsJson) -> Payloads:
    try:
        return ParseDict(body, Payloads())
    except ParseError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"not payloads: {exc}") from exc


@router.post("/encode", responses={400: {}, 401: {}, 403: {}})
async def encode(body: PayloadsJson, ctx: ContextDep, operator: OperatorDep) -> PayloadsJson:
    codec = ctx.temporal.data_converter.payload_codec
    assert codec is not None
    encoded = await codec.encode(_payloads(body).payloads)
    return MessageToDict(Payloads(payloads=encoded))


@router.post("/decode", responses={400: {}, 401: {}, 403: {}})
async def decode(body: PayloadsJson, ctx: ContextDep, operator: OperatorDep) -> PayloadsJson:
    codec = ctx.temporal.data_converter.payload_codec
    assert codec is not None
    try:
        decoded = await codec.decode(_payloads(body).payloads)
    except (UnknownKeyError, InvalidTag, ValueError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return MessageToDict(Payloads(payloads=decoded))
