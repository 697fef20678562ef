"""Rule: a launch is a value (checked when built, stored as JSON); building one sends nothing.

``Launch`` is what a rollout launches: one call of ``fast_execute_script``, ``fast_transfer_file``
or ``execute_job_plan`` without its scope, as a frozen value. ``Launch.script``,
``Launch.file_transfer`` and ``Launch.job_plan`` take the keywords of the client's method
(``BkJobClient``), but ``start_task``, which the rollout owns, and check them as the endpoint
table's spelling does (``TypeError``/``ValueError`` at once). ``to_json()`` gives a JSON value
and ``Launch.from_json`` reads it back to an equal launch. A launch names its API by the
table's name, and ``spell(protocol, scope)`` spells it for a client's flavor (which may refuse
what another flavor takes: ``UnsupportedOperationError``, ``ValueError``).

A launch's JSON holds its secrets (a sensitive ``script_param``, a password variable's value):
the rollout stores it to launch it again after a crash. ``repr`` shows none of its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from inspect import signature
from json import dumps
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
import cattrs

from .._protocol.launches import EXECUTE_JOB_PLAN, FAST_EXECUTE_SCRIPT, FAST_TRANSFER_FILE
from ..config import ApiFlavor, Scope
from ..models import ScriptLanguage
from ..models.requests import Account, FileSource, GlobalVar, RollingConfig, Targets

if TYPE_CHECKING:
    from .._protocol import Protocol
    from .._protocol._api import Api, Params

__all__ = ["Launch"]

_ROWS: dict[str, Api[..., Any]] = {
    row.name: row for row in (FAST_EXECUTE_SCRIPT, FAST_TRANSFER_FILE, EXECUTE_JOB_PLAN)
}

#: The arguments whose values are models, and their types (read back from JSON by these).
_TYPES: dict[str, Any] = {
    "targets": Targets,
    "account": Account,
    "file_sources": tuple[FileSource, ...],
    "global_vars": tuple[GlobalVar, ...],
    "rolling_config": RollingConfig,
}
#: The arguments a launch's JSON may hold, by API: its row's parameters (the client's
#: keywords), but the scope and ``start_task``, which the rollout owns.
_KEYWORDS = {
    name: frozenset(signature(row.signature).parameters) - {"scope", "start_task"}
    for name, row in _ROWS.items()
}
#: The scope a launch is checked with when built (the flavor's own scope check comes at spell).
_ANY_SCOPE = Scope.biz(1)

_converter = cattrs.Converter()


def _frozen(arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(arguments))


@attrs.frozen(repr=False)
class Launch:
    """One launch of a script, a file transfer or a job plan, as a value (module docstring).

    Build it with ``Launch.script``, ``Launch.file_transfer`` or ``Launch.job_plan``.
    """

    #: The API it calls: ``fast_execute_script``, ``fast_transfer_file`` or ``execute_job_plan``.
    api: str
    #: The keywords of the client's method, as given (those left out take its defaults).
    arguments: Mapping[str, Any] = attrs.field(converter=_frozen, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if self.api not in _ROWS:
            raise ValueError(f"a Launch calls one of {sorted(_ROWS)}, not {self.api!r}")
        unknown = set(self.arguments) - _KEYWORDS[self.api]
        if unknown:
            raise TypeError(f"{self.api} takes no argument {sorted(unknown)!r} in a Launch")
        self.spell_args(_ANY_SCOPE, ApiFlavor.APIGW_V3)  # raises what the client would

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Launch):
            return NotImplemented
        return self.api == other.api and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(dumps(self.to_json()["arguments"], sort_keys=True))

    def __repr__(self) -> str:
        return f"Launch({self.api}, arguments={sorted(self.arguments)})"

    # --- constructors --------------------------------------------------------------------------

    @classmethod
    def script(
        cls,
        *,
        targets: Targets,
        account: Account,
        script_content: str | None = None,
        script_id: str | None = None,
        script_version_id: int | None = None,
        script_language: ScriptLanguage | int = ScriptLanguage.SHELL,
        script_param: str | None = None,
        is_param_sensitive: bool = False,
        script_timeout: int | None = None,
        task_name: str | None = None,
        callback_url: str | None = None,
        rolling_config: RollingConfig | None = None,
    ) -> Launch:
        """Return a launch of ``fast_execute_script`` (its keywords, ``start_task`` aside)."""
        given = dict(locals())
        del given["cls"]
        given["script_language"] = int(script_language)
        return cls("fast_execute_script", _given(given))

    @classmethod
    def file_transfer(
        cls,
        *,
        targets: Targets,
        account: Account,
        file_target_path: str,
        file_sources: Sequence[FileSource],
        file_target_name: str | None = None,
        task_name: str | None = None,
        transfer_timeout: int | None = None,
        transfer_mode: int | None = None,
        download_speed_limit: int | None = None,
        upload_speed_limit: int | None = None,
        callback_url: str | None = None,
        rolling_config: RollingConfig | None = None,
    ) -> Launch:
        """Return a launch of ``fast_transfer_file`` (its keywords, ``start_task`` aside)."""
        given = dict(locals())
        del given["cls"]
        if isinstance(file_sources, (list, tuple)):
            given["file_sources"] = tuple(file_sources)
        return cls("fast_transfer_file", _given(given))

    @classmethod
    def job_plan(
        cls,
        job_plan_id: int,
        *,
        global_vars: Sequence[GlobalVar] = (),
        callback_url: str | None = None,
    ) -> Launch:
        """Return a launch of ``execute_job_plan`` (its keywords, ``start_task`` aside)."""
        given = dict(locals())
        del given["cls"]
        if isinstance(global_vars, (list, tuple)):
            given["global_vars"] = tuple(global_vars)
        return cls("execute_job_plan", _given(given))

    # --- use -----------------------------------------------------------------------------------

    @property
    def task_name(self) -> str | None:
        """The task name given (``None``: bk-job's default, or a plan's own name)."""
        name = self.arguments.get("task_name")
        return name if isinstance(name, str) else None

    def with_arguments(self, **changes: Any) -> Launch:
        """Return this launch with some keywords changed (checked again)."""
        return Launch(self.api, {**self.arguments, **changes})

    def spell_args(self, scope: Scope, flavor: ApiFlavor) -> Params:
        """Return bk-job's parameters of this launch on ``flavor``; raise what the client would."""
        binding = _ROWS[self.api].bindings.get(flavor)
        if binding is None:
            from ..errors import UnsupportedOperationError

            raise UnsupportedOperationError(f"{self.api} does not exist on {flavor.value!r}")
        arguments = dict(self.arguments)
        if self.api == "execute_job_plan":
            plan = arguments.pop("job_plan_id")
            spelled = binding.spell(scope, plan, **arguments)
        else:
            spelled = binding.spell(scope, **arguments)
        assert isinstance(spelled, Mapping)  # (a launch is one request)
        return spelled

    def spell(self, protocol: Protocol, scope: Scope) -> Params:
        """Check this launch for ``protocol``'s flavor; return its parameters (nothing is sent)."""
        return self.spell_args(scope, protocol.flavor)

    async def send(self, client: Any, scope: Scope, *, start_task: bool = True) -> Any:
        """Launch it through ``client`` (a ``BkJobClient``); return the ``JobLaunch``."""
        arguments = dict(self.arguments)
        if self.api == "execute_job_plan":
            plan = arguments.pop("job_plan_id")
            return await client.execute_job_plan(scope, plan, start_task=start_task, **arguments)
        method = getattr(client, self.api)
        return await method(scope, start_task=start_task, **arguments)

    # --- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Return this launch as a JSON value (``Launch.from_json`` reads it back)."""
        arguments = {}
        for name, value in self.arguments.items():
            arguments[name] = _lists(_converter.unstructure(value))
        return {"api": self.api, "arguments": arguments}

    @classmethod
    def from_json(cls, data: Any) -> Launch:
        """Read a launch back from ``to_json()``'s value; raise ``ValueError`` if it is not one."""
        if not isinstance(data, Mapping) or not isinstance(data.get("arguments"), Mapping):
            raise ValueError("a launch's JSON is an object with 'api' and 'arguments'")
        api = data.get("api")
        if api not in _KEYWORDS:
            raise ValueError(f"a launch's JSON names no API this version launches: {api!r}")
        arguments: dict[str, Any] = {}
        for name, value in data["arguments"].items():
            kind = _TYPES.get(name)
            if kind is None or value is None:
                arguments[name] = value
                continue
            try:
                arguments[name] = _converter.structure(value, kind)
            except Exception as exc:  # cattrs' ClassValidationError, or a model's own check
                raise ValueError(f"a launch's {name!r} cannot be read: {exc}") from None
        return cls(str(api), arguments)


def _given(arguments: dict[str, Any]) -> dict[str, Any]:
    """Keep what differs from the client's defaults (a launch's JSON says only what is set)."""
    defaults = {
        "script_language": int(ScriptLanguage.SHELL),
        "is_param_sensitive": False,
        "global_vars": (),
    }
    return {
        name: value
        for name, value in arguments.items()
        if value is not None and (name not in defaults or defaults[name] != value)
    }


def _lists(value: Any) -> Any:
    """Return ``value`` with tuples as lists (what JSON gives back)."""
    if isinstance(value, (tuple, list)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value
