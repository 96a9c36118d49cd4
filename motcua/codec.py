"""Every payload Temporal stores — workflow inputs and results, activity arguments, updates,
signals, queries — is encrypted with AES-256-GCM before it leaves our processes. Each payload
names its key, so keys rotate: encrypt with the current one, keep the old ones to decrypt."""

import base64
import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from motcua.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class UnknownKeyError(ValueError):
    """A payload was encrypted with a key this process does not hold."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"the current payload key {current!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

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
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)  # written before encryption was turned on
                continue
            key_id = payload.metadata[KEY_ID].decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise UnknownKeyError(f"payload encrypted with unknown key {key_id!r}")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            decoded.append(Payload.FromString(cipher.decrypt(nonce, sealed, None)))
        return decoded


def codec_from(settings: Settings) -> EncryptionCodec:
    keys = {
        key_id: base64.b64decode(key.get_secret_value())
        for key_id, key in settings.payload_keys.items()
    }
    return EncryptionCodec(keys, settings.payload_key_id)


def data_converter(settings: Settings) -> DataConverter:
    """Payloads encrypted, and failures' messages and stack traces moved into an encrypted
    payload too (they may quote the data that failed)."""
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=codec_from(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
