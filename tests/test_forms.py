"""The declaration form (tờ khai) is data in the catalog: the check of what an applicant filled
in, and the API that refuses a wrong form naming the field and keeps a right one cleaned."""

import uuid
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from domain.catalog import load_catalog
from domain.forms import FormField, FormProblemKind, check_form, cleaned, parse_number
from motcua.settings import Settings
from store.db import Sessionmaker
from store.models import Dossier
from tests.client import ApiClient, declaration

CATALOG = load_catalog(Settings().catalog_path)
HKD = "1.001612"  # household business
KS = "1.001193"  # birth registration
TODAY = date(2026, 6, 15)

FIELDS = [
    FormField(name="ten", label="Tên"),
    FormField(name="ghi_chu", label="Ghi chú", type="textarea", required=False, max_length=10),
    FormField(name="so_ban", label="Số bản", type="number", integer=True, minimum=1, maximum=50),
    FormField(name="dien_tich", label="Diện tích", type="number", required=False, minimum=0),
    FormField(name="ngay_sinh", label="Ngày sinh", type="date", not_future=True),
    FormField(name="gioi_tinh", label="Giới tính", type="choice", choices=["Nam", "Nữ"]),
]
VALID = {"ten": "Nguyễn Văn An", "so_ban": 2, "ngay_sinh": "2026-01-15", "gioi_tinh": "Nam"}


def _kinds(values: dict[str, Any]) -> dict[str, FormProblemKind]:
    return {p.field: p.kind for p in check_form(FIELDS, values, today=TODAY)}


# ---- the check -----------------------------------------------------------------------------


def test_a_valid_form_has_no_problem_and_optional_fields_may_be_empty() -> None:
    assert _kinds(VALID) == {}
    assert _kinds({**VALID, "ghi_chu": "   ", "dien_tich": None}) == {}


@pytest.mark.parametrize(
    "change, field, kind",
    [
        ({"ten": None}, "ten", FormProblemKind.REQUIRED),
        ({"ten": "  "}, "ten", FormProblemKind.REQUIRED),
        ({"la": "x"}, "la", FormProblemKind.UNKNOWN),
        ({"ten": 12}, "ten", FormProblemKind.NOT_TEXT),
        ({"ten": ["Nguyễn Văn An"]}, "ten", FormProblemKind.NOT_TEXT),
        ({"ghi_chu": "mười một ký"}, "ghi_chu", FormProblemKind.TOO_LONG),
        ({"so_ban": "hai"}, "so_ban", FormProblemKind.NOT_A_NUMBER),
        ({"so_ban": True}, "so_ban", FormProblemKind.NOT_A_NUMBER),
        ({"so_ban": "1e3"}, "so_ban", FormProblemKind.NOT_A_NUMBER),
        ({"so_ban": "1,5"}, "so_ban", FormProblemKind.NOT_AN_INTEGER),
        ({"so_ban": 51}, "so_ban", FormProblemKind.OUT_OF_RANGE),
        ({"so_ban": "0"}, "so_ban", FormProblemKind.OUT_OF_RANGE),
        ({"dien_tich": "-1"}, "dien_tich", FormProblemKind.OUT_OF_RANGE),
        ({"dien_tich": 10**20}, "dien_tich", FormProblemKind.OUT_OF_RANGE),
        ({"ngay_sinh": "15/13/2026"}, "ngay_sinh", FormProblemKind.NOT_A_DATE),
        ({"ngay_sinh": "20260115"}, "ngay_sinh", FormProblemKind.NOT_A_DATE),
        ({"ngay_sinh": "2026-06-16"}, "ngay_sinh", FormProblemKind.IN_THE_FUTURE),
        ({"gioi_tinh": "nam"}, "gioi_tinh", FormProblemKind.NOT_A_CHOICE),
    ],
)
def test_each_problem_names_its_field_and_kind(
    change: dict[str, Any], field: str, kind: FormProblemKind
) -> None:
    assert _kinds({**VALID, **change}) == {field: kind}


def test_every_problem_is_reported_at_once() -> None:
    problems = check_form(FIELDS, {"so_ban": "x", "khac": 1}, today=TODAY)
    assert [(p.field, p.kind) for p in problems] == [
        ("khac", FormProblemKind.UNKNOWN),
        ("ten", FormProblemKind.REQUIRED),
        ("so_ban", FormProblemKind.NOT_A_NUMBER),
        ("ngay_sinh", FormProblemKind.REQUIRED),
        ("gioi_tinh", FormProblemKind.REQUIRED),
    ]
    assert problems[1].message == "Tên: required"


@pytest.mark.parametrize(
    "text, integer, number",
    [
        ("1,5", False, 1.5),
        ("1.5", False, 1.5),
        ("1.500", False, 1.5),  # one separator alone is the decimal one...
        ("1.500", True, 1500),  # ...unless the field counts things
        ("500.000.000", False, 500_000_000),
        ("500 000 000", True, 500_000_000),
        ("1.234.567,5", False, 1_234_567.5),
        ("1,234,567.5", False, 1_234_567.5),
        (" 12 ", True, 12),
        ("1.000 000", True, None),  # mixed grouping is a typing mistake
        ("1.2.3", False, None),
        ("", False, None),
    ],
)
def test_numbers_written_as_vietnamese_write_them(
    text: str, integer: bool, number: float | None
) -> None:
    parsed = parse_number(text, integer)
    assert (float(parsed) if parsed is not None else None) == number


def test_a_checked_form_is_kept_cleaned() -> None:
    values = {
        "ten": "  Nguyễn Văn An ",
        "ghi_chu": "",
        "so_ban": "2",
        "dien_tich": "120,5",
        "ngay_sinh": "15/01/2026",
        "gioi_tinh": "Nữ",
    }
    assert _kinds(values) == {}
    assert cleaned(FIELDS, values) == {
        "ten": "Nguyễn Văn An",
        "so_ban": 2,
        "dien_tich": 120.5,
        "ngay_sinh": "2026-01-15",
        "gioi_tinh": "Nữ",
    }


@pytest.mark.parametrize(
    "declared",
    [
        {"name": "x", "label": "X", "type": "choice"},  # a choice without choices
        {"name": "x", "label": "X", "choices": ["a"]},  # choices on text
        {"name": "x", "label": "X", "type": "choice", "choices": ["a", "a"]},
        {"name": "x", "label": "X", "minimum": 1},  # bounds on text
        {"name": "x", "label": "X", "type": "number", "minimum": 5, "maximum": 1},
        {"name": "x", "label": "X", "not_future": True},
        {"name": "x", "label": "X", "type": "number", "max_length": 3},
        {"name": "Tên", "label": "X"},  # names are snake_case ASCII
        {"name": "x", "label": "X", "type": "checkbox"},
    ],
)
def test_a_field_the_catalog_declares_wrongly_is_refused(declared: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FormField.model_validate(declared)


def test_every_procedure_of_the_catalog_has_its_declaration_form() -> None:
    for procedure in CATALOG.catalog.procedures:
        assert procedure.audience, procedure.code
        assert any(f.required for f in procedure.form), procedure.code
        for f in procedure.form:
            assert f.label[0].isupper() and f.name.isascii(), (procedure.code, f.name)


def test_old_recorded_catalogs_without_forms_still_load() -> None:
    content = CATALOG.catalog.model_dump(mode="json")
    for procedure in content["procedures"]:
        del procedure["form"], procedure["audience"]
        for component in procedure["components"]:
            del component["help"]
    old = type(CATALOG.catalog).model_validate(content)
    assert all(p.form == [] and p.audience is None for p in old.procedures)


# ---- the API -------------------------------------------------------------------------------


async def test_the_procedure_shows_its_form_fields(api: ApiClient) -> None:
    procedure = await api.procedure(KS)
    assert procedure["audience"].startswith("Cha, mẹ")
    fields = {f["name"]: f for f in procedure["form"]}
    assert fields["gioi_tinh"] == {
        "name": "gioi_tinh",
        "label": "Giới tính",
        "type": "choice",
        "required": True,
        "choices": ["Nam", "Nữ"],
        "help": None,
        "max_length": None,
        "minimum": None,
        "maximum": None,
        "integer": False,
        "not_future": False,
    }
    assert fields["ngay_sinh"]["type"] == "date" and fields["ngay_sinh"]["not_future"]
    assert fields["ho_ten_cha"]["required"] is False
    assert fields["ho_ten"]["max_length"] == 100
    assert fields["noi_sinh"]["max_length"] == 500  # the address type's own limit
    components = {c["code"]: c for c in procedure["components"]}
    assert components["GCS"]["help"].startswith("Do cơ sở y tế")
    money = {f["name"]: f for f in (await api.procedure(HKD))["form"]}["von_kinh_doanh"]
    assert (money["type"], money["minimum"], money["integer"]) == ("number", 0, True)


async def _refused(api: ApiClient, form: dict[str, Any]) -> list[dict[str, Any]]:
    body = {**await api.submission(KS), "form": form}
    r = await api.http.post("/api/v1/dossiers", json=body)
    assert r.status_code == 422, r.text
    detail: list[dict[str, Any]] = r.json()["detail"]
    return detail


async def test_a_missing_required_field_is_422_naming_it(api: ApiClient) -> None:
    form = (await api.submission(KS))["form"]
    del form["ho_ten_me"]
    [problem] = await _refused(api, form)
    assert problem["loc"] == ["body", "form", "ho_ten_me"]
    assert "required" in problem["msg"] and problem["type"] == "value_error"


async def test_wrong_values_are_422_one_entry_per_field(api: ApiClient) -> None:
    form = (await api.submission(KS))["form"]
    wrong = {**form, "gioi_tinh": "Không rõ", "nam_sinh_me": "năm 98", "ghi_chu": "x"}
    detail = await _refused(api, wrong)
    assert sorted(tuple(p["loc"]) for p in detail) == [
        ("body", "form", "ghi_chu"),
        ("body", "form", "gioi_tinh"),
        ("body", "form", "nam_sinh_me"),
    ]
    # An empty form is refused too: every required field is named.
    names = {p["loc"][2] for p in await _refused(api, {})}
    assert names == {f.name for f in CATALOG.procedures[KS].form if f.required}


async def test_a_valid_form_is_stored_cleaned(api: ApiClient, sessionmaker: Sessionmaker) -> None:
    body = await api.submission(HKD)
    form = {
        **body["form"],
        "ten_ho_kinh_doanh": "  Hộ kinh doanh Tạp hóa Cô Ba  ",
        "von_kinh_doanh": "50.000.000",
        "so_lao_dong": "3",
        "dien_thoai_ho_kinh_doanh": "",
    }
    r = await api.http.post("/api/v1/dossiers", json={**body, "form": form})
    assert r.status_code == 201, r.text
    async with sessionmaker() as session:
        stored = await session.scalar(select(Dossier.form).where(Dossier.code == r.json()["code"]))
    assert stored == {
        "nguoi_thanh_lap": "Một cá nhân",
        "ten_ho_kinh_doanh": "Hộ kinh doanh Tạp hóa Cô Ba",
        "dia_chi_tru_so": form["dia_chi_tru_so"],
        "nganh_nghe_kinh_doanh": form["nganh_nghe_kinh_doanh"],
        "von_kinh_doanh": 50_000_000,
        "so_lao_dong": 3,
    }


async def test_a_replay_matches_the_form_as_sent_not_as_cleaned(api: ApiClient) -> None:
    body = await api.submission(HKD)
    body["form"]["von_kinh_doanh"] = "50.000.000"
    headers = {"Idempotency-Key": f"forms-{uuid.uuid4()}"}
    first = await api.http.post("/api/v1/dossiers", json=body, headers=headers)
    again = await api.http.post("/api/v1/dossiers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["code"] == again.json()["code"]


def test_the_test_client_fills_every_procedure_validly() -> None:
    """The tests' submissions (tests.client.declaration) satisfy each procedure's form."""
    for procedure in CATALOG.catalog.procedures:
        filled = declaration([f.model_dump() for f in procedure.form])
        assert check_form(procedure.form, filled) == [], procedure.code
