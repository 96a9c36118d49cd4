"""Custom search attributes operators filter dossiers by in the Temporal Web UI and CLI.

None of them carries personal data. `motcua run` registers them on the embedded server;
`motcua search-attributes` does it on an external cluster.
"""

from typing import Any

from temporalio.common import SearchAttributeKey

DOSSIER_CODE = SearchAttributeKey.for_keyword("DossierCode")
PROCEDURE_CODE = SearchAttributeKey.for_keyword("ProcedureCode")
STAGE = SearchAttributeKey.for_keyword("DossierStage")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
STATUS_CODE = SearchAttributeKey.for_int("StatusCode")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")
STEP_DUE_AT = SearchAttributeKey.for_datetime("StepDueAt")
# When the dossier entered its stage: how long it has waited there (e.g. for payment).
STAGE_SINCE = SearchAttributeKey.for_datetime("StageSince")
# The number of the latest transition, which the read model holds once it is written
# (`Dossier.last_seq`): how the API knows the read model is as fresh as the workflow.
TRANSITION_SEQ = SearchAttributeKey.for_int("TransitionSeq")
# (Temporal's SQL visibility stores, SQLite in the dev server and PostgreSQL in compose, take
# three custom Datetime attributes per namespace: DueAt, StepDueAt and StageSince use them all.)

ALL = (
    DOSSIER_CODE,
    PROCEDURE_CODE,
    STAGE,
    DEPARTMENT,
    STATUS_CODE,
    DUE_AT,
    STEP_DUE_AT,
    STAGE_SINCE,
    TRANSITION_SEQ,
)

# The names the `temporal` CLI knows these types by (for --search-attribute NAME=TYPE).
CLI_TYPES: dict[SearchAttributeKey[Any], str] = {
    DOSSIER_CODE: "Keyword",
    PROCEDURE_CODE: "Keyword",
    STAGE: "Keyword",
    DEPARTMENT: "Keyword",
    STATUS_CODE: "Int",
    DUE_AT: "Datetime",
    STEP_DUE_AT: "Datetime",
    STAGE_SINCE: "Datetime",
    TRANSITION_SEQ: "Int",
}
