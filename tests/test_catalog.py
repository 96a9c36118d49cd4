"""The catalog is validated on load, and says where it is wrong."""

from pathlib import Path

import pytest
import yaml

from domain.catalog import CatalogError, load_catalog
from motcua.settings import Settings

SHIPPED = Settings().catalog_path


def _variant(tmp_path: Path, edit: object) -> Path:
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(raw)  # type: ignore[operator]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_catalog_covers_the_required_kinds() -> None:
    catalog = load_catalog(SHIPPED)
    procedures = catalog.catalog.procedures
    assert any(p.level == "full" and p.fee_vnd > 0 for p in procedures)
    assert any(p.level == "partial" and p.fee_vnd > 0 for p in procedures)
    assert any(p.fee_vnd == 0 for p in procedures)
    assert any(len({s.department for s in p.steps}) >= 3 for p in procedures)


def test_version_changes_with_content(tmp_path: Path) -> None:
    def cheaper(raw: dict[str, list[dict[str, int]]]) -> None:
        raw["procedures"][0]["fee_vnd"] = 1

    assert load_catalog(SHIPPED).version != load_catalog(_variant(tmp_path, cheaper)).version


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda raw: raw["procedures"][0]["steps"][0].update(department="NOPE"),
            "unknown department",
        ),
        (lambda raw: raw["procedures"][0].update(level="level4"), "level"),
        (lambda raw: raw["procedures"][0].update(fee_vnd=-1), "fee_vnd"),
        (lambda raw: raw["procedures"][0]["steps"][0].update(hours=1000), "working hours"),
        (lambda raw: raw["procedures"].append(raw["procedures"][0]), "listed twice"),
        (lambda raw: raw["procedures"][0].update(surprise=1), "surprise"),
        (lambda raw: raw["agencies"][0].update(code="H39"), "code"),
        (
            lambda raw: raw["procedures"][0]["steps"][0].update(
                consults=[{"department": "KT", "role": "head", "hours": 8}]
            ),
            "consult each other department once",
        ),
        (
            lambda raw: raw["procedures"][0]["steps"][0].update(
                consults=[{"department": "NOPE", "role": "head", "hours": 8}]
            ),
            "unknown department NOPE",
        ),
    ],
)
def test_invalid_catalogs_are_refused(tmp_path: Path, edit: object, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(_variant(tmp_path, edit))


def test_unreadable_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
