"""The public demo secrets (in motcua/settings.py for anyone to read) are for the embedded demo
only: anywhere else the API, the worker and `motcua run` refuse to start while any of them is
left, naming which; `motcua secrets` prints real ones."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.main import create_app
from motcua import embedded
from motcua.settings import RefusedToStart, Settings, fresh_secrets

ROOT = Path(__file__).resolve().parent.parent
ALL = ["JWT_SECRET", "LOOKUP_KEY_SECRET", "PAYMENT_CALLBACK_SECRET", "DOCUMENT_KEY", "PAYLOAD_KEYS"]


def _without_our_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}


def _real_ones() -> dict[str, Any]:
    """Fresh secrets, as Settings' own arguments."""
    fresh = fresh_secrets("2026-12")
    return {name.lower(): value for name, value in fresh.items()} | {
        "payload_keys": json.loads(fresh["PAYLOAD_KEYS"])
    }


def test_each_demo_secret_left_is_named() -> None:
    assert Settings().demo_secrets_in_use() == ALL
    real = _real_ones()
    assert Settings(**real).demo_secrets_in_use() == []
    Settings(**real).refuse_demo_secrets()

    # One left at its default, and the demo payload key kept as an old key: both named.
    demo = Settings()
    some_left = Settings(
        **real
        | {
            "jwt_secret": demo.jwt_secret,
            "payload_keys": real["payload_keys"] | {"dev": demo.payload_keys["dev"]},
        }
    )
    assert some_left.demo_secrets_in_use() == ["JWT_SECRET", "PAYLOAD_KEYS"]
    with pytest.raises(RefusedToStart, match="JWT_SECRET, PAYLOAD_KEYS"):
        some_left.refuse_demo_secrets()
    # The embedded demo may.
    some_left.model_copy(update={"demo_secrets": True}).refuse_demo_secrets()


async def test_the_api_refuses_to_start(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"demo_secrets": False}))
    with pytest.raises(RefusedToStart, match="JWT_SECRET, LOOKUP_KEY_SECRET"):
        async with app.router.lifespan_context(app):
            pass


def test_the_worker_refuses_to_start(settings: Settings) -> None:
    env = {
        **_without_our_settings(),
        "DATABASE_URL": settings.require_database_url(),
        "TEMPORAL_ADDRESS": settings.require_temporal_address(),
        "PAYMENT_GATEWAY": "sandbox",
    }
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "error: refusing to start: JWT_SECRET, LOOKUP_KEY_SECRET" in done.stderr


def test_motcua_run_on_external_servers_refuses_at_once(tmp_path: Path) -> None:
    env = {
        **_without_our_settings(),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [embedded.venv_binary("motcua"), "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "error: refusing to start: JWT_SECRET" in done.stderr

    # With real ones it goes on, and fails only on the servers that are not there.
    env |= fresh_secrets("2026-12")
    done = subprocess.run(
        [embedded.venv_binary("motcua"), "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "refusing to start" not in done.stderr


def test_motcua_secrets_prints_real_ones() -> None:
    printed = subprocess.run(
        [embedded.venv_binary("motcua"), "secrets"], capture_output=True, text=True, check=True
    ).stdout
    names = [line.split("=", 1)[0].removeprefix("export ") for line in printed.splitlines()]
    assert sorted(names) == sorted([*ALL, "PAYLOAD_KEY_ID"])
