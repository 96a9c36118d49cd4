"""One way to connect to Temporal, from settings: address, namespace, TLS or API key, and the
payload encryption every client and worker of ours shares."""

import logging
import os
import sys
from typing import NoReturn

from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import TLSConfig

from motcua.codec import data_converter
from motcua.settings import Settings


def _tls_config(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls or settings.temporal_tls_cert):
        return False
    read = lambda path: path.read_bytes() if path else None  # noqa: E731
    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
    )


async def connect_temporal(
    settings: Settings, runtime: Runtime | None = None, identity: str | None = None
) -> Client:
    """A client; `identity` is what histories record of the worker that uses it (unset, the
    SDK's `pid@host`)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.require_temporal_address(),
        namespace=settings.temporal_namespace,
        tls=_tls_config(settings) if not api_key else True,
        api_key=api_key,
        data_converter=data_converter(settings),
        runtime=runtime,
        identity=identity,
    )


# The SDK core's own warnings (a workflow task failing, a poll failing…), forwarded into our
# log lines (motcua/logging.py turns a failing workflow task into an alert).
CORE_LOGGER = "temporalio.core"


def worker_runtime(metrics_address: str | None) -> Runtime:
    """The worker's Temporal runtime: the SDK core logs through our logging, and its metrics
    (workflow and activity task latencies, slots, polls, failures) are served in Prometheus
    format at `metrics_address`, when given."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(
                    logger=logging.getLogger(CORE_LOGGER),
                    append_target_to_name=False,
                    prepend_target_on_message=False,
                    append_log_fields_to_message=False,  # (lifted into the line's fields)
                ),
            ),
            metrics=PrometheusConfig(bind_address=metrics_address) if metrics_address else None,
        )
    )


def leave(code: int) -> NoReturn:
    """End a process that used Temporal once its work is done, without the interpreter's own
    teardown: dropping the SDK's runtime then can deadlock with its log-forwarding thread (the
    worker hung on exit about one stop in two when its Temporal server was gone) or abort
    (`Fatal Python error: PyGILState_Release` after a CLI call had succeeded)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
