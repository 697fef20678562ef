"""An embedded bk-job simulator for tests, benchmarks and demos: no real server needed.

``BkJobSimulator`` serves the API gateway v3, ESB jobv3 and ESB v2 paths on 127.0.0.1 and
behaves as ``spec/bkjob-api.md`` and bk-job's source describe, down to the wire details.
Script jobs with ``StepPlan``/``HostPlan``, break responses with ``Fault``, and inspect state
with ``BkJobSimulator.job`` (a frozen ``JobView``). ``MockTransport(handler)`` lets a client
(and so a poller) talk to a function in memory; ``BkJobSimulator.transport()`` is one with
the simulator behind it. ``serve(handler)`` serves any such handler over real HTTP on
127.0.0.1 (``async with serve(handler) as server: ... server.url``) where the wire matters:
the simulator's own server is ``serve`` of its handler. ``run_virtual(main)`` runs a test on
virtual time (``VirtualTimeLoop``; the simulator follows it with ``virtual_clock=loop_time``):
an hour of polling in a moment. Nothing here is imported by the client.
"""

from ._faults import Fault, FaultKind, FaultRule
from ._mock import MockTransport, Request, Response, json_response
from ._plan import HostPlan, PlanVar, RollingMode, RunningJobQuota, Span, StepPlan
from ._serve import HandlerServer, ResetMidBody, serve
from ._simulator import BkJobSimulator, SimulatorStats
from ._views import HostView, JobView, StepView
from ._virtual import VirtualTimeLoop, loop_time, run_virtual

__all__ = [
    "BkJobSimulator",
    "Fault",
    "FaultKind",
    "FaultRule",
    "HandlerServer",
    "HostPlan",
    "HostView",
    "JobView",
    "MockTransport",
    "PlanVar",
    "Request",
    "ResetMidBody",
    "Response",
    "RollingMode",
    "RunningJobQuota",
    "SimulatorStats",
    "Span",
    "StepPlan",
    "StepView",
    "VirtualTimeLoop",
    "json_response",
    "loop_time",
    "run_virtual",
    "serve",
]
