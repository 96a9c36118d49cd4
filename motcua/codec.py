"""Every payload Temporal stores — workflow inputs and results, activity arguments, updates,
signals, queries — is encrypted with AES-256-GCM before it leaves our processes. Each payload
names its key, so keys rotate: encrypt with the current one, keep the old ones to decrypt.

AES-GCM also authenticates: only a process holding a key (the API, the worker) can write a
payload that opens. Anything else — plain JSON sent with `temporal workflow update`, a forged
or tampered payload, a key this process does not hold — is refused: the codec marks it, and
the payload converter will not turn it into a value. Refusing there, not in the codec, is what
keeps a dossier alive: the SDK drops a signal and rejects an update whose argument cannot be
converted (nothing is written, the next real action works), where a codec error would fail
the workflow task again on every attempt. An activity's result or the workflow's input that
cannot be converted still fails the task, which is right: it retries once the key is back."""

import base64
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    PayloadCodec,
)

from motcua.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# Set by the codec on a payload it would not open, with the reason.
REFUSED = "motcua-refused"
_NONCE_BYTES = 12


class RefusedPayloadError(ValueError):
    """A payload that no holder of our keys wrote: it is not turned into a value."""


class EncryptionCodec(PayloadCodec):
    def __init__(
        self, keys: dict[str, bytes], current: str, *, accept_unencrypted: bool = False
    ) -> None:
        """`accept_unencrypted`: open plain payloads as they are, for dossiers started before
        payloads were encrypted (ACCEPT_UNENCRYPTED_PAYLOADS, README "Payload encryption")."""
        if current not in keys:
            raise ValueError(f"the current payload key {current!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current
        self._accept_unencrypted = accept_unencrypted

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if self._accept_unencrypted:
                return payload
            return _refused(payload, "not encrypted with the agency's payload key")
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            return _refused(payload, f"encrypted with a key this process does not hold: {key_id!r}")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, None))
        except InvalidTag:
            return _refused(payload, f"does not open with key {key_id!r}: forged or altered")


def _refused(payload: Payload, reason: str) -> Payload:
    marked = Payload()
    marked.CopyFrom(payload)
    marked.metadata[REFUSED] = reason.encode()
    return marked


class SealedPayloadConverter(DefaultPayloadConverter):
    """The default conversions, for payloads the codec opened; a refused one raises."""

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        for payload in payloads:
            if REFUSED in payload.metadata:
                reason = payload.metadata[REFUSED].decode(errors="replace")
                raise RefusedPayloadError(f"payload refused: {reason}")
        return super().from_payloads(payloads, type_hints)


def codec_from(settings: Settings) -> EncryptionCodec:
    keys = {
        key_id: base64.b64decode(key.get_secret_value())
        for key_id, key in settings.payload_keys.items()
    }
    return EncryptionCodec(
        keys, settings.payload_key_id, accept_unencrypted=settings.accept_unencrypted_payloads
    )


def data_converter(settings: Settings) -> DataConverter:
    """Payloads encrypted, and failures' messages and stack traces moved into an encrypted
    payload too (they may quote the data that failed); payloads the codec refused are never
    converted."""
    return dataclasses.replace(
        DataConverter.default,
        payload_converter_class=SealedPayloadConverter,
        payload_codec=codec_from(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
