"""structlog for everything: JSON lines when not on a terminal, readable console output on one.

Stdlib loggers (uvicorn, temporalio, the workflow logger) go through the same processor chain,
and context bound with `structlog.contextvars` (request id, dossier code) lands on every line.
"""

import logging
import re
import sys
from typing import Any

import structlog
import temporalio.activity
import temporalio.workflow


def bound_request_id() -> str | None:
    """The id of the API request being served (bound by api/main.py), for the messages it
    sends the workflows: the worker logs the transitions they cause with it."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return str(request_id) if request_id else None


def _lift_temporal_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The Temporal SDK puts workflow/activity info in `extra`; name the dossier the same way
    the API does, so one grep for the dossier code follows it across API and worker."""
    for key in ("temporal_workflow", "temporal_activity"):
        info = event.pop(key, None)
        if isinstance(info, dict):
            workflow_id = info.get("workflow_id")
            if workflow_id:
                event.setdefault("dossier_code", workflow_id)
            if info.get("activity_type"):
                event.setdefault("activity", info["activity_type"])
            if info.get("workflow_type"):
                event.setdefault("workflow", info["workflow_type"])
    return event


# What the SDK core logs, and the Rust rendering of its failure, when a workflow task fails.
_TASK_FAILING = "Failing workflow task"
_FAILURE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def _lift_core_fields(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The SDK core's log lines (forwarded by the worker's runtime) carry their fields as ours.
    A failing workflow task becomes an alert line: its dossier stands still until it is fixed
    (README, "A dossier whose workflow task keeps failing")."""
    core = event.pop("temporal_log", None)
    if core is None:
        return event
    fields = {key: str(value) for key, value in dict(core.fields).items()}
    event.update(fields)
    if event.get("event") == _TASK_FAILING:
        found = _FAILURE_MESSAGE.search(fields.get("failure", ""))
        message = found.group(1) if found else fields.get("failure", "")
        event.update(
            event="workflow task failing",
            alert="workflow_task_failing",
            cause="nondeterminism" if "[TMPRL1100]" in message else "other",
            failure=message,
        )
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _lift_core_fields,
        _lift_temporal_context,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    # The SDK's workflow/activity details go in `extra` (lifted above), not into the message.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "temporalio"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The API writes its own line per request (api/main.py), with the request id and dossier.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
