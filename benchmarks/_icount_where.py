"""Where a poll's work went: bytecodes per poll, function by function, this tree beside another's.

``python benchmarks/_icount_where.py [--base 51c62ef] [--flavor apigw-v3] [--kind changed]
[--every 500] [--top 30] [--gc]``

``_icount_compare.py`` says how many instructions a poll costs; this says in which functions
the difference lies. Each tree's engine runs the same driver (``_icount_loop.py``) against a
simulator of its own, without callgrind, with ``BENCH_ICOUNT_OPCODES``: the interpreter traces
every bytecode each function runs between the driver's first and last marks (its own, not its
callees'). Those over the answers read are a poll's bytecodes, deterministic within a few per
cent. Functions are matched by qualified name, since modules move between commits
(``_heap.Due.take`` became ``_jobs.Due.take``). Bytecodes are the interpreter's work only: what
C does for them (allocations, the collector, aiohttp's parser, the JSON decoder) shows in
callgrind's count, not here. ``--gc`` counts the collector's passes per 1,000 answers instead,
and the objects each young pass found by type: what filled the youngest generation.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
sys.path.insert(0, str(TREE))

from benchmarks._harness import simulator  # noqa: E402
from benchmarks._icount_compare import (  # noqa: E402
    _describe,
    base_tree,
    go,
    loop_env,
    start_loop,
)


def _traced(tree: Path, flavor: str, changed: bool, every: int, trace: dict[str, str]) -> int:
    """Run ``tree``'s engine with the driver's ``trace`` variables; return the answers traced."""
    jobs = 50
    with (
        simulator(jobs, steps=3, hosts=10, flip=changed) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        ids = Path(tmp) / "ids.json"
        ids.write_text(json.dumps(sim.job_ids))
        env = loop_env(tree, flavor, 3 * jobs, every, 1) | trace
        proc, _ = start_loop("engine", sim.url, ids, env)
        line, _ = go(proc)
    if not line.startswith('{"marks"'):
        raise RuntimeError(f"the engine on {tree} failed: {line!r}")
    marks = json.loads(line)["marks"]
    return int(marks[-1] - marks[0])


def bytecodes(tree: Path, flavor: str, changed: bool, every: int, out: Path) -> dict[str, float]:
    """Bytecodes per answer, by ``module-group:qualified name``, of ``tree``'s engine."""
    answers = _traced(tree, flavor, changed, every, {"BENCH_ICOUNT_OPCODES": str(out)})
    per: collections.Counter[str] = collections.Counter()
    for where, count in json.loads(out.read_text()).items():
        filename, _, name = where.rsplit(":", 2)
        per[f"{_group(filename)}:{name}"] += count / answers
    return dict(per)


def young(tree: Path, flavor: str, changed: bool, every: int, out: Path) -> dict[str, float]:
    """The collector's passes per 1,000 answers of ``tree``'s engine (``gen0``, ``gen1``,
    ``gen2``), the objects a young pass found, on average (``alive``), and by type per answer."""
    answers = _traced(tree, flavor, changed, every, {"BENCH_ICOUNT_GC": str(out)})
    seen = json.loads(out.read_text())
    figures = {f"gen{g}": n * 1000 / answers for g, n in enumerate(seen["passes"])}
    figures["alive"] = statistics.mean(seen["alive"]) if seen["alive"] else 0.0
    figures.update({k: n / answers for k, n in seen["young"].items()})
    return figures


def _group(filename: str) -> str:
    """``bkjob_async``, a third-party package's name, or ``stdlib``."""
    parts = Path(filename).parts
    if "bkjob_async" in parts:
        return "bkjob_async"
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    return "stdlib" if filename.startswith(("/", "<frozen")) else filename


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="51c62ef", help="a commit or a tree's directory")
    parser.add_argument("--flavor", default="apigw-v3")
    parser.add_argument("--kind", default="changed", choices=("unchanged", "changed"))
    parser.add_argument("--every", type=int, default=500, help="answers traced")
    parser.add_argument("--top", type=int, default=30, help="functions shown")
    parser.add_argument(
        "--gc", action="store_true", help="the collector's young passes instead of bytecodes"
    )
    args = parser.parse_args(argv)
    changed = args.kind == "changed"
    if args.gc:
        _young_passes(args, changed)
        return
    old, new, names = _base_and_today(args, changed, bytecodes)
    print(f"== bytecodes per {args.kind} poll, {args.flavor} ({names[0]} -> {names[1]})")
    groups = sorted({k.split(":", 1)[0] for k in (*old, *new)})
    for group in groups:
        before = sum(v for k, v in old.items() if k.startswith(group + ":"))
        after = sum(v for k, v in new.items() if k.startswith(group + ":"))
        if max(before, after) >= 1:
            print(f"{group:24} {before:8.0f} -> {after:8.0f}  {after - before:+8.0f}")
    print(f"{'all':24} {sum(old.values()):8.0f} -> {sum(new.values()):8.0f}")
    keys = sorted({*old, *new}, key=lambda k: -abs(new.get(k, 0.0) - old.get(k, 0.0)))
    for k in keys[: args.top]:
        a, b = old.get(k, 0.0), new.get(k, 0.0)
        print(f"{k[-60:]:60} {a:7.1f} -> {b:7.1f}  {b - a:+7.1f}")


def _base_and_today(
    args: argparse.Namespace, changed: bool, measure: Callable[..., dict[str, float]]
) -> tuple[dict[str, float], dict[str, float], tuple[str, str]]:
    """``measure`` (``bytecodes`` or ``young``) on ``--base``'s tree and on today's; the two
    figures and the two trees' names."""
    with ExitStack() as stack:
        base = base_tree(args.base, stack)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        old = measure(base, args.flavor, changed, args.every, tmp / "base.json")
        new = measure(TREE, args.flavor, changed, args.every, tmp / "today.json")
    return old, new, (_describe(args.base) or args.base, f"today {_describe('HEAD')}")


def _young_passes(args: argparse.Namespace, changed: bool) -> None:
    """``--gc``: passes of the collector per 1,000 answers, and what the young ones found."""
    old, new, names = _base_and_today(args, changed, young)
    print(
        f"== the collector's passes per 1,000 {args.kind} polls, {args.flavor} ({names[0]} -> "
        f"{names[1]}); the objects a young pass found, on average and by type per poll"
    )
    keys = ["gen0", "gen1", "gen2", "alive"]
    keys += sorted({*old, *new} - set(keys), key=lambda k: -max(old.get(k, 0), new.get(k, 0)))
    for k in keys[: args.top]:
        print(f"{k[-60:]:60} {old.get(k, 0.0):8.2f} -> {new.get(k, 0.0):8.2f}")


if __name__ == "__main__":
    main()
