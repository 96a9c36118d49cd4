"""Officials' passwords (argon2) and bearer tokens (short-lived, signed JWT); applicants'
lookup keys (an HMAC of the dossier code and a per-dossier salt, so the key is never stored)."""

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.dossier import Actor

_hasher = PasswordHasher()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _hash_of_nothing() -> str:
    """What a password is checked against when the name is no official's."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify_or_waste(password_hash: str | None, password: str) -> bool:
    return verify_password(password_hash or _hash_of_nothing(), password) and bool(password_hash)


async def check_password(
    password_hash: str | None, password: str, at_once: asyncio.Semaphore
) -> bool:
    """Whether `password` is the one of `password_hash` (None: no such official, so no).

    In a thread: argon2 takes tens of milliseconds of CPU (and 64 MiB), which would stop the
    event loop, and so every other request, for as long; `at_once` bounds the threads (and the
    memory) a burst of logins can take. An unknown name costs the same verification, against
    a hash of nothing, so it answers no faster than a known one."""
    async with at_once:
        return await asyncio.to_thread(_verify_or_waste, password_hash, password)


@dataclass(frozen=True)
class TokenClaims:
    username: str
    department: str
    role: str
    # The official's token version when the token was issued (api.deps.token_official).
    version: int

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.department, self.role)


def issue_token(claims: TokenClaims, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": claims.username,
        "dept": claims.department,
        "role": claims.role,
        "ver": claims.version,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str) -> TokenClaims | None:
    """The token's claims, or None when it is forged, expired or malformed. Whether they
    still hold is api.deps.token_official's to say."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
        return TokenClaims(
            str(payload["sub"]), str(payload["dept"]), str(payload["role"]), int(payload["ver"])
        )
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None


def new_lookup_salt() -> str:
    return secrets.token_hex(16)


def lookup_key(code: str, salt: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{code}:{salt}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:16]


# What people type for a key read off paper or a screen: base32 has no 0, 1 or 8, so those
# are the O, I and B they resemble; spaces and dashes (the receipt groups it by four) and the
# case do not count.
_READ_AS = str.maketrans({"0": "O", "1": "I", "8": "B", " ": None, "-": None})


def normalized_lookup_key(candidate: str) -> str:
    """`kvlb-nxmy r6v0 n4c6` as the key it means: `KVLBNXMYR6VON4C6`."""
    return "".join(candidate.split()).upper().translate(_READ_AS)


def lookup_key_matches(candidate: str, code: str, salt: str, secret: str) -> bool:
    expected = lookup_key(code, salt, secret).encode()
    return hmac.compare_digest(normalized_lookup_key(candidate).encode(), expected)


def gateway_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp.body`, as the payment gateways sign their callbacks."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
