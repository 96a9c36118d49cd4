"""A build deployed by mistake for a while (tests/test_stuck_dossier.py): its first task records
a patch that no release knows, so no released code replays the dossiers it started."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import domain.dossier  # noqa: F401  (the input's types, as workflows/dossier.py has them)
    from workflows.dossier import DossierWorkflow
    from workflows.messages import DossierInput, DossierOutcome


# Its patch: the runs that recorded it are the one kind of history no released code replays.
WITHDRAWN_BUILD = "withdrawn-build"


@workflow.defn(name="DossierWorkflow")
class WithdrawnBuildDossierWorkflow(DossierWorkflow):
    @workflow.init
    def __init__(self, input: DossierInput) -> None:
        workflow.patched(WITHDRAWN_BUILD)
        super().__init__(input)

    @workflow.run
    async def run(self, input: DossierInput) -> DossierOutcome:
        return await super().run(input)
