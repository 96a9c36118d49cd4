"""All configuration, from the environment (or a `.env` file). One object, read once."""

import base64
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.calendar import DEFAULT_OFFICE_HOURS

ROOT = Path(__file__).resolve().parent.parent


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

    # The sandbox payment gateway: anyone with a pay link can "pay" in it, so it is for the
    # embedded stack and demos only (`motcua run` turns it on). No other adapter exists yet.
    sandbox_gateway: bool = False

    # Secrets. The defaults are for the embedded demo only; set real ones in production.
    jwt_secret: SecretStr = SecretStr("dev-only-jwt-secret-change-me-0123456789")
    # AES-256 keys for Temporal payloads, by key id (base64 of 32 bytes), as JSON, e.g.
    # PAYLOAD_KEYS='{"2026-11":"…"}' PAYLOAD_KEY_ID=2026-11. Old keys stay listed to decrypt.
    payload_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {
            "dev": SecretStr(base64.b64encode(b"dev-only-payload-key-32-bytes!!!").decode())
        }
    )
    payload_key_id: str = "dev"
    token_ttl_minutes: int = 30
    lookup_key_secret: SecretStr = SecretStr("dev-only-lookup-secret-change-me-01234")
    payment_callback_secret: SecretStr = SecretStr("dev-only-gateway-secret-change-me-0123")
    # Keys the hash of the applicant's ID number in documents' QR codes.
    document_key: SecretStr = SecretStr("dev-only-document-key-change-me-0123456")

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
    # Failed logins allowed per name and per client in 15 minutes, and failed dossier lookups
    # per client in 10 minutes, before 429.
    login_failures_allowed: int = Field(default=5, gt=0)
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
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
