"""The deployment files: docker-compose.yml is valid and has the expected services."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "JWT_SECRET": "test-jwt-secret",
    "LOOKUP_KEY_SECRET": "test-lookup-secret",
    "PAYMENT_CALLBACK_SECRET": "test-callback-secret",
    "DOCUMENT_KEY": "test-document-key",
    "PAYLOAD_KEYS": '{"k1": "b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3s="}',
    "PAYLOAD_KEY_ID": "k1",
}


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    return None


def test_compose_services() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    assert {"postgres", "temporal", "temporal-ui", "api", "worker"} <= services.keys()
    for name in ("api", "worker"):
        assert services[name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert services["worker"]["command"] == ["python", "worker.py"]


def test_compose_config_is_valid() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor docker compose is installed")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
