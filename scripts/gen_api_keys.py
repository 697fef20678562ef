"""Write the lines of ``bkjob_async/_protocol/_keys.py``: the parameters each API reads, on each flavor.

``python scripts/gen_api_keys.py`` (``make api-keys``) probes every spelling of the endpoint
table: it calls each row's spelling on each flavor with sample arguments, once with the
required ones and once more for each optional argument (with each of its samples, alone or in
place of another that excludes it), and gathers the top-level keys of the parameters each call
spells (``None`` values are not sent, so not counted). What bk-job reads beyond what the client
spells (v3's deprecated ``bk_biz_id`` beside the scope, v2's ``ip_list`` beside
``target_server``) is added by rule in the generated module's reader, not here.
``tests/unit/test_api_keys.py`` checks the module is current: a spelling that changes its keys
fails there until this is run again.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import pathlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "bkjob_async" / "_protocol" / "_keys.py"


def samples() -> dict[str, list[Any]]:
    """Return sample values for each parameter name a spelling takes (several: each is tried)."""
    from bkjob_async import (
        Account,
        AccountCategory,
        AccountType,
        ConfigFile,
        CredentialSecret,
        CronStatus,
        DangerousRuleAction,
        FileSource,
        FileSourceType,
        GlobalVar,
        JobOperation,
        JobStatus,
        KubeContainerFilter,
        LaunchMode,
        RollingConfig,
        Scope,
        ScriptLanguage,
        StepOperation,
        Targets,
        TaskType,
    )
    from bkjob_async.models import FileLogMode, HostStatus

    when = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    hosts = [Targets(host_ids=[1]), Targets(ips=[(0, "10.0.0.1")])]
    pods = Targets(containers=[KubeContainerFilter(["BCS-K8S-00001"], container_names=["app"])])
    return {
        "scope": [Scope.biz(2), None],
        "targets": [*hosts, pods],
        "account": [Account(alias="root"), Account(id=1), "root"],
        "file_sources": [
            [FileSource(["/tmp/a"], server=h, account=Account(alias="root"))] for h in hosts
        ],
        "files": [[ConfigFile("a.conf", "x")]],
        "global_vars": [[GlobalVar(name="v", value="x")]],
        "variables": [[GlobalVar(name="v", value="x")]],
        "rolling_config": [RollingConfig("10%")],
        "secret": [CredentialSecret.for_username_password("u", "p")],
        "host": [1, (0, "10.0.0.1")],
        "hosts": [[1], [(0, "10.0.0.1")]],
        "container_ids": [[1]],
        "created_from": [when],
        "created_to": [when + dt.timedelta(days=1)],
        "modified_from": [when],
        "modified_to": [when + dt.timedelta(days=1)],
        "execute_time": [when + dt.timedelta(days=365 * 50)],
        "operation": [JobOperation.TERMINATE, StepOperation.RETRY_FAILED],
        "action": [DangerousRuleAction.SCAN],
        "category": [AccountCategory.SYSTEM],
        "type": [
            AccountType.LINUX,
            FileSourceType.BLUEKING_ARTIFACTORY,
            TaskType.FAST_SCRIPT,
            AccountType.WINDOWS,
        ],
        "status": [CronStatus.RUNNING, JobStatus.SUCCESS, HostStatus.SUCCESS],
        "launch_mode": [LaunchMode.API],
        "mode": [FileLogMode.DOWNLOAD],
        "script_language": [ScriptLanguage.SHELL, ScriptLanguage.SQL],
        "script_languages": [[ScriptLanguage.SHELL]],
        "access_params": [{"base_url": "http://repo.example.com"}],
        "base_url": ["http://repo.example.com"],
        "callback_url": ["http://cb.example.com/"],
        "enable_steps": [[1]],
        "follow_template": [["v"]],
        "file_names": [["a"]],
        "script_id": ["s1"],
        "code": ["code1"],
        "credential_id": ["c1"],
        "expression": ["0 2 * * *", "rm -rf"],
        "execute_time_zone": ["Asia/Shanghai"],
        "file_target_path": ["/tmp/"],
        "version": ["v1"],
        "content": ["echo"],
        "script_content": ["echo"],
        "ip": ["10.0.0.1"],
    }


def value_samples(
    name: str, parameter: inspect.Parameter, known: dict[str, list[Any]]
) -> list[Any]:
    """Return the samples of one parameter: by its name, else by its annotation's kind."""
    if name in known:
        return [v for v in known[name] if v is not None or "None" in str(parameter.annotation)]
    annotation = str(parameter.annotation)
    if annotation.startswith("bool"):
        return [True, False]
    if annotation.startswith("int"):
        return [1]
    if annotation.startswith("str"):
        return ["x"]
    raise SystemExit(f"no sample for {name}: {annotation}")


def attempts(spell: Callable[..., Any], known: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    """Yield argument sets: each required one's samples, and each optional one added to them
    (alone, or in place of one of the others)."""
    parameters = inspect.signature(spell).parameters
    required = [
        n for n, p in parameters.items() if p.default is p.empty and p.kind is not p.VAR_KEYWORD
    ]
    optional = [n for n, p in parameters.items() if p.default is not p.empty]
    choices = {n: value_samples(n, parameters[n], known) for n in (*required, *optional)}
    for base in itertools.product(*(choices[n] for n in required)):
        args = dict(zip(required, base, strict=True))
        yield args
        for name in optional:
            for value in choices[name]:
                yield {**args, name: value}
                for other in optional:
                    for again in choices[other]:
                        if other != name:
                            yield {**args, name: value, other: again}


def spelled(spell: Callable[..., Any], known: dict[str, list[Any]]) -> frozenset[str]:
    """Return every key ``spell`` sends (not ``None``) for any of its argument sets: those of
    ``attempts``, and the sets grown one optional argument at a time (in both orders) from
    each accepted set of required ones."""
    keys: set[str] = set()
    accepted = []
    for args in attempts(spell, known):
        found = _keys(spell, args)
        if found is not None:
            keys |= found
            accepted.append(args)
    if not accepted:
        raise SystemExit(f"no sample set is accepted by {spell}")
    parameters = inspect.signature(spell).parameters
    optional = [n for n, p in parameters.items() if p.default is not p.empty]
    for order in (optional, optional[::-1]):
        grown = dict(accepted[0])
        for name in order:
            for value in value_samples(name, parameters[name], known):
                found = _keys(spell, {**grown, name: value})
                if found is not None:
                    keys |= found
                    grown[name] = value
                    break
    return frozenset(keys)


def _keys(spell: Callable[..., Any], args: dict[str, Any]) -> set[str] | None:
    """Return the keys ``spell(**args)`` sends, or ``None`` if it refuses them."""
    from bkjob_async._protocol import Batches

    positional = {k: v for k, v in args.items() if _positional(spell, k)}
    keywords = {k: v for k, v in args.items() if k not in positional}
    try:
        params = spell(*positional.values(), **keywords)
    except Exception:  # (a refused sample: the next one)
        return None
    return {k for one in (params if isinstance(params, Batches) else (params,))
            for k, v in one.items() if v is not None}  # fmt: skip


def _positional(spell: Callable[..., Any], name: str) -> bool:
    kind = inspect.signature(spell).parameters[name].kind
    return kind is inspect.Parameter.POSITIONAL_ONLY


def table() -> dict[str, dict[str, frozenset[str]]]:
    """Return the keys spelled by each API on each flavor."""
    from bkjob_async._protocol import TABLE

    known = samples()
    return {
        name: {flavor.value: spelled(wire.spell, known) for flavor, wire in row.bindings.items()}
        for name, row in TABLE.items()
    }


def render() -> str:
    """Return the module's text: its head and tail as written, the lines of ``_LINES`` anew
    (``ruff format`` leaves it as it is)."""
    head, mark, rest = OUT.read_text(encoding="utf-8").partition('_LINES = """\n')
    lines = [
        " ".join([name, flavor, *sorted(keys)]) + "\n"
        for name, flavors in table().items()
        for flavor, keys in flavors.items()
    ]
    return head + mark + "".join(lines) + rest[rest.index('"""\n') :]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
