"""Rule: ``prometheus_client`` is imported only when ``--metrics-port`` is given.

``--metrics-port``: serve a Prometheus registry on 127.0.0.1 while a command runs.

Rule: imports ``prometheus_client`` only when a port is given (the ``prometheus`` extra), and
refuses with a ``CliError`` saying what to install when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._runtime import CliError

if TYPE_CHECKING:
    import contextlib

    from prometheus_client import CollectorRegistry

    from ._runtime import Context

__all__ = ["serve_metrics"]


def serve_metrics(
    ctx: Context, stack: contextlib.AsyncExitStack, port: int | None
) -> CollectorRegistry | None:
    """Serve a new registry's metrics on 127.0.0.1:``port`` until ``stack`` closes; return the
    registry (``None``: no port given)."""
    if port is None:
        return None
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise CliError(
            "--metrics-port needs prometheus-client: pip install 'bkjob-async[prometheus]'"
        ) from None
    registry = CollectorRegistry()
    try:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise CliError(f"--metrics-port {port}: cannot serve: {exc.strerror}") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()

    stack.callback(stop)
    ctx.err(f"metrics at http://127.0.0.1:{server.server_port}/metrics")
    return registry
