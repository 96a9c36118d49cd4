"""All configuration, from the environment (or a `.env` file). One object, read once."""

import base64
import json
import secrets
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.calendar import DEFAULT_OFFICE_HOURS

ROOT = Path(__file__).resolve().parent.parent

# The embedded demo's secrets: public, so refused anywhere else (Settings.refuse_demo_secrets).
_DEMO_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
_DEMO_PAYLOAD_KEY = base64.b64encode(b"dev-only-payload-key-32-bytes!!!").decode()
_DEMO_LOOKUP_KEY_SECRET = "dev-only-lookup-secret-change-me-01234"
_DEMO_PAYMENT_CALLBACK_SECRET = "dev-only-gateway-secret-change-me-0123"
_DEMO_DOCUMENT_KEY = "dev-only-document-key-change-me-0123456"


class RefusedToStart(RuntimeError):
    """A process that must not serve as configured: it says why, in a line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # PostgreSQL. Unset: `motcua run` starts the embedded server and sets it.
    database_url: str | None = None
    db_pool_size: int = 10

    # Temporal. Unset address: `motcua run` starts the embedded dev server.
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "motcua-dossiers"
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://localhost:8233"

    # Where the embedded servers and uploaded files keep their data (git-ignored).
    data_dir: Path = ROOT / ".data"
    catalog_path: Path = ROOT / "catalog.yaml"

    # The API's own address as seen by applicants and by the sandbox payment gateway.
    public_base_url: str = "http://localhost:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # How many worker and API processes `motcua run` starts and keeps running (the API's all
    # serve API_PORT); more than one of each is the production shape, run on one machine.
    workers: int = Field(default=1, ge=1)
    api_processes: int = Field(default=1, ge=1)

    # The payment gateway (README, "Payments"): `vnpay`, with the agency's merchant account
    # below, or `sandbox`, the demo's, where anyone with a pay link "pays" with no money: only
    # for the embedded demo (`make run`, the tests) unless SANDBOX_GATEWAY_ALLOWED says so.
    payment_gateway: Literal["vnpay", "sandbox"] | None = None
    sandbox_gateway_allowed: bool = False
    vnpay_tmn_code: str | None = None
    vnpay_hash_secret: SecretStr | None = None
    vnpay_payment_url: str | None = None  # e.g. https://pay.vnpay.vn/vpcpay.html
    vnpay_api_url: str | None = None  # querydr, e.g. …/merchant_webapi/api/transaction
    # Attempts with no answer (IPN) after this long are asked about (querydr), every so often.
    payment_reconcile_minutes: int = Field(default=20, gt=0)

    # Secrets. Their defaults are public (they are in this file): for the embedded demo only,
    # which `motcua run` marks with DEMO_SECRETS when it starts the servers itself. Anywhere
    # else the API and the worker refuse to start while any of them is left at its default.
    demo_secrets: bool = False
    jwt_secret: SecretStr = SecretStr(_DEMO_JWT_SECRET)
    # AES-256 keys for Temporal payloads, by key id (base64 of 32 bytes), as JSON, e.g.
    # PAYLOAD_KEYS='{"2026-11":"…"}' PAYLOAD_KEY_ID=2026-11. Old keys stay listed to decrypt.
    payload_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev": SecretStr(_DEMO_PAYLOAD_KEY)}
    )
    payload_key_id: str = "dev"
    # Open unencrypted payloads (anyone who reaches Temporal can write those): only while
    # dossiers started before payload encryption are still open (README, "Payload encryption").
    accept_unencrypted_payloads: bool = False
    token_ttl_minutes: int = 30
    # How long an API process trusts what it last read of an official's state (active,
    # department, role, password): a token of one deactivated or moved is refused this late.
    token_check_seconds: float = Field(default=5.0, ge=0)
    lookup_key_secret: SecretStr = SecretStr(_DEMO_LOOKUP_KEY_SECRET)
    payment_callback_secret: SecretStr = SecretStr(_DEMO_PAYMENT_CALLBACK_SECRET)
    # Keys the hash of the applicant's ID number in documents' QR codes.
    document_key: SecretStr = SecretStr(_DEMO_DOCUMENT_KEY)

    # How long an official's action waits for the engine's answer before a 503.
    action_budget_ms: int = Field(default=10_000, gt=0)

    # Days off and make-up working days the government announces each year, on top of the
    # public holidays (JSON lists of dates, e.g. EXTRA_DAYS_OFF='["2027-02-03"]').
    extra_days_off: list[date] = Field(default_factory=list)
    # Office hours: periods of a working day, as JSON, e.g. OFFICE_HOURS=
    # '[["07:30","11:30"],["13:00","17:00"]]' (the default).
    office_hours: list[tuple[time, time]] = Field(
        default_factory=lambda: list(DEFAULT_OFFICE_HOURS), min_length=1
    )
    makeup_working_days: list[date] = Field(default_factory=list)

    # How many dossier workflows a worker keeps in memory (Temporal's sticky cache). A dossier
    # out of it is rebuilt by replaying its history when an official acts on it (README,
    # "Performance": what one costs in memory, and a miss in time).
    workflow_cache_size: int = Field(default=1000, ge=0)

    # How long a status lookup waits for the workflow before answering from the read model.
    query_budget_ms: int = Field(default=1500, gt=0)
    max_upload_bytes: int = 20 * 1024 * 1024
    # Any other request body (JSON, a page's form without files): refused past this, 413.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Uploads an anonymous client may make in an hour before 429 (the desk's are not counted).
    uploads_per_hour: int = Field(default=30, gt=0)
    # Failed logins of a name from a client before each next try from there waits a delay
    # (the first, doubling with each failure, up to the longest); failed logins of a client
    # across all names in 15 minutes, and failed dossier lookups of a client in 10, before 429.
    login_failures_allowed: int = Field(default=5, gt=0)
    login_delay_seconds: float = Field(default=2.0, gt=0)
    login_delay_max_seconds: float = Field(default=900.0, gt=0)
    login_client_failures_allowed: int = Field(default=100, gt=0)
    lookup_failures_allowed: int = Field(default=20, gt=0)

    # Delivery of the applicants' notifications. Unset, they stay in the outbox table.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    outbox_poll_seconds: float = Field(default=5.0, gt=0)

    # Where the worker serves its Temporal SDK metrics (Prometheus); empty: not served.
    worker_metrics_address: str = "127.0.0.1:9464"
    # The API's /metrics answers this bearer token (the scraper's) and operators' tokens;
    # unset, operators' only. Its counts of open and overdue tasks are redone at most this often.
    metrics_token: SecretStr | None = None
    metrics_refresh_seconds: float = Field(default=15.0, ge=0)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, token: object) -> object:
        return token or None  # METRICS_TOKEN= (as compose passes it unset): no token

    @field_validator("payload_keys")
    @classmethod
    def _keys_are_aes256(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key_id, key in keys.items():
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ValueError(f"payload key {key_id!r} must be 32 bytes, base64-encoded")
        return keys

    @model_validator(mode="after")
    def _current_key_is_listed(self) -> "Settings":
        if self.payload_key_id not in self.payload_keys:
            raise ValueError(f"PAYLOAD_KEY_ID {self.payload_key_id!r} is not in PAYLOAD_KEYS")
        return self

    @field_validator("office_hours")
    @classmethod
    def _periods_in_order(cls, periods: list[tuple[time, time]]) -> list[tuple[time, time]]:
        ordered = sorted(periods)
        for (start, end), following in zip(ordered, [*ordered[1:], None], strict=True):
            if start >= end or (following is not None and end > following[0]):
                raise ValueError("office hours must be periods with start < end, not overlapping")
        return ordered

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def demo_secrets_in_use(self) -> list[str]:
        """The variables whose secret is still the public demo one."""
        demo = {
            "JWT_SECRET": (self.jwt_secret, _DEMO_JWT_SECRET),
            "LOOKUP_KEY_SECRET": (self.lookup_key_secret, _DEMO_LOOKUP_KEY_SECRET),
            "PAYMENT_CALLBACK_SECRET": (
                self.payment_callback_secret,
                _DEMO_PAYMENT_CALLBACK_SECRET,
            ),
            "DOCUMENT_KEY": (self.document_key, _DEMO_DOCUMENT_KEY),
        }
        found = [name for name, (secret, public) in demo.items()
                 if secret.get_secret_value() == public]  # fmt: skip
        # Listed at all, even as an old key: whoever has this file could read those payloads.
        if any(key.get_secret_value() == _DEMO_PAYLOAD_KEY for key in self.payload_keys.values()):
            found.append("PAYLOAD_KEYS")
        return found

    def refuse_demo_secrets(self) -> None:
        """Stop a process that would serve with public secrets, unless it is the demo's."""
        in_use = self.demo_secrets_in_use()
        if in_use and not self.demo_secrets:
            raise RefusedToStart(
                f"refusing to start: {', '.join(in_use)} still hold the public demo secrets; "
                "set real ones (e.g. openssl rand -hex 32; PAYLOAD_KEYS: README, "
                '"Configuration"), or DEMO_SECRETS=true for a demo that holds nothing real'
            )

    def refuse_unusable_gateway(self) -> None:
        """Stop a process that would take payments through no gateway, through the sandbox
        where money is real, or through VNPAY without its merchant account."""
        if self.payment_gateway is None:
            raise RefusedToStart(
                "no payment gateway configured: PAYMENT_GATEWAY=vnpay with the VNPAY_* "
                'variables (README, "Payments"), or PAYMENT_GATEWAY=sandbox for a demo'
            )
        if self.payment_gateway == "sandbox" and not (
            self.demo_secrets or self.sandbox_gateway_allowed
        ):
            raise RefusedToStart(
                "refusing to start: PAYMENT_GATEWAY=sandbox lets anyone with a pay link pay "
                "with no money; it is for the embedded demo (DEMO_SECRETS=true), or set "
                "SANDBOX_GATEWAY_ALLOWED=true where no fee is real"
            )
        if self.payment_gateway == "vnpay":
            missing = [
                name.upper()
                for name in (
                    "vnpay_tmn_code",
                    "vnpay_hash_secret",
                    "vnpay_payment_url",
                    "vnpay_api_url",
                )
                if not getattr(self, name)
            ]
            if missing:
                raise RefusedToStart(
                    f"refusing to start: PAYMENT_GATEWAY=vnpay needs {', '.join(missing)} "
                    '(the agency\'s VNPAY merchant account: README, "Payments")'
                )

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "DATABASE_URL is not set (`motcua run` sets it for the embedded stack)"
            )
        return self.database_url

    def require_temporal_address(self) -> str:
        if not self.temporal_address:
            raise RuntimeError(
                "TEMPORAL_ADDRESS is not set (`motcua run` sets it for the embedded stack)"
            )
        return self.temporal_address


def fresh_secrets(key_id: str) -> dict[str, str]:
    """New random secrets, as the environment variables that hold them (`motcua secrets`)."""
    payload_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "JWT_SECRET": secrets.token_hex(32),
        "LOOKUP_KEY_SECRET": secrets.token_hex(32),
        "PAYMENT_CALLBACK_SECRET": secrets.token_hex(32),
        "DOCUMENT_KEY": secrets.token_hex(32),
        "PAYLOAD_KEYS": json.dumps({key_id: payload_key}),
        "PAYLOAD_KEY_ID": key_id,
    }


@lru_cache
def get_settings() -> Settings:
    return Settings()
