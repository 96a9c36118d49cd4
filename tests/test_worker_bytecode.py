"""The worker compiles the workflow modules' bytecode at start, even where Python is told not
to write it (PYTHONDONTWRITEBYTECODE): the sandbox imports those modules afresh for every
dossier it loads, and without the cache compiles each from source every time."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

import worker


def test_the_workflow_modules_bytecode_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "workflows"
    shutil.copytree(worker.WORKFLOWS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(worker, "WORKFLOWS_DIR", copy)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    worker.cache_workflow_bytecode()

    for module in ("dossier", "dossier_checks", "dossier_state", "run_version"):
        cached = Path(importlib.util.cache_from_source(str(copy / f"{module}.py")))
        assert cached.read_bytes()[:4] == importlib.util.MAGIC_NUMBER, module
