"""The OpenAPI schema says exactly what the API takes, where schemathesis's check of it
(tests/test_schema_fuzzing.py) cannot tell: the operations these rules are on also have rules
of the catalog and the dossier's state, so their 422s are expected there anyway."""

from typing import Any

import jsonschema_rs  # schemathesis's validator: JSON Schema 2020-12, ECMA-262 patterns
import pytest
from pydantic import ValidationError

from api.main import create_app
from api.schemas import ApplicantIn
from motcua.settings import Settings
from tests.client import APPLICANT


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(Settings(demo_secrets=True)).openapi()
    return schema


def test_the_idempotency_key_is_a_bounded_string_never_null(openapi: dict[str, Any]) -> None:
    keyed = [
        parameter["schema"]
        for path in openapi["paths"].values()
        for operation in path.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "Idempotency-Key"
    ]
    assert len(keyed) == 2  # a submission, an action
    for schema in keyed:
        validator = jsonschema_rs.Draft202012Validator(schema)
        assert [validator.is_valid(key) for key in ("k" * 7, "k" * 8, "k" * 128, "k" * 129)] == [
            False,
            True,
            True,
            False,
        ]
        assert not validator.is_valid("with space") and not validator.is_valid(None)


@pytest.mark.parametrize(
    ("kind", "id_number"),
    [
        ("individual", "079123456789"),
        ("individual", "0791234567"),  # a tax code's length
        ("individual", "07912345678"),
        ("individual", "079123456789\n"),  # Python's `$` takes it, ECMA's does not
        ("individual", "０７９１２３４５６７８９"),  # other digits: Python's `\d` takes them
        ("individual", ""),
        ("organization", "0312345678"),
        ("organization", "0312345678-001"),
        ("organization", "079123456789"),
        ("organization", "0312345678-1"),
    ],
)
def test_the_applicants_number_is_the_schemas(
    openapi: dict[str, Any], kind: str, id_number: str
) -> None:
    """A CCCD of 12 digits for a person, a tax code for an organisation: the schema takes
    exactly the applicants the API takes."""
    applicant = {**APPLICANT, "kind": kind, "id_number": id_number}
    try:
        ApplicantIn.model_validate(applicant)
        taken = True
    except ValidationError:
        taken = False
    schema = openapi["components"]["schemas"]["ApplicantIn"]
    assert jsonschema_rs.Draft202012Validator(schema).is_valid(applicant) == taken


def test_an_empty_file_is_refused_by_the_schema_as_by_the_api(openapi: dict[str, Any]) -> None:
    body = openapi["paths"]["/api/v1/files"]["post"]["requestBody"]["content"]
    ref = body["multipart/form-data"]["schema"]["$ref"].rpartition("/")[2]
    assert openapi["components"]["schemas"][ref]["properties"]["file"]["minLength"] == 1
