"""Officials' passwords (argon2) and bearer tokens (short-lived, signed JWT); applicants'
lookup keys (an HMAC of the dossier code and a per-dossier salt, so the key is never stored)."""

import base64
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


@dataclass(frozen=True)
class TokenClaims:
    username: str
    department: str
    role: str

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.department, self.role)


def issue_token(claims: TokenClaims, secret: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": claims.username,
        "dept": claims.department,
        "role": claims.role,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def read_token(token: str, secret: str) -> TokenClaims | None:
    """The token's claims, or None when it is forged, expired or malformed."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
        return TokenClaims(str(payload["sub"]), str(payload["dept"]), str(payload["role"]))
    except (jwt.PyJWTError, KeyError):
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
