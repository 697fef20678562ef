"""Where a poll's work went: bytecodes per poll, function by function, this tree beside another's.

``python benchmarks/_icount_where.py [--base 51c62ef] [--flavor apigw-v3] [--kind changed]
[--every 500] [--top 30]``

``_icount_compare.py`` says how many instructions a poll costs; this says in which functions
the difference lies. Each tree's engine runs the same driver (``_icount_loop.py``) against a
simulator of its own, without callgrind, with ``BENCH_ICOUNT_OPCODES``: the interpreter traces
every bytecode each function runs between the driver's first and last marks (its own, not its
callees'). Those over the answers read are a poll's bytecodes, deterministic within a few per
cent. Functions are matched by qualified name, since modules move between commits
(``_heap.Due.take`` became ``_jobs.Due.take``). Bytecodes are the interpreter's work only: what
C does for them (allocations, the collector, aiohttp's parser, the JSON decoder) shows in
callgrind's count, not here.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
sys.path.insert(0, str(TREE))

from benchmarks._harness import simulator  # noqa: E402
from benchmarks._icount_compare import _describe, base_tree  # noqa: E402


def bytecodes(tree: Path, flavor: str, changed: bool, every: int, out: Path) -> dict[str, float]:
    """Bytecodes per answer, by ``module-group:qualified name``, of ``tree``'s engine."""
    jobs = 50
    with simulator(jobs, steps=3, hosts=10, flip=changed) as sim:
        ids = out.with_suffix(".ids.json")
        ids.write_text(json.dumps(sim.job_ids))
        env = dict(
            os.environ,
            PYTHONPATH=str(tree),
            PYTHONHASHSEED="0",
            BENCH_ICOUNT_FLAVOR=flavor,
            BENCH_ICOUNT_MARKS=f"{3 * jobs},{every},1",
            BENCH_ICOUNT_OPCODES=str(out),
        )
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_icount_loop.py"), "engine", sim.url, str(ids), "0"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdout.readline()  # ready
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        proc.kill()
        proc.communicate()
    if not line.startswith('{"marks"'):
        raise RuntimeError(f"the engine on {tree} failed: {line!r}")
    marks = json.loads(line)["marks"]
    answers = marks[-1] - marks[0]
    per: collections.Counter[str] = collections.Counter()
    for where, count in json.loads(out.read_text()).items():
        filename, _, name = where.rsplit(":", 2)
        per[f"{_group(filename)}:{name}"] += count / answers
    return dict(per)


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
    args = parser.parse_args(argv)
    changed = args.kind == "changed"
    with ExitStack() as stack:
        base = base_tree(args.base, stack)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        old = bytecodes(base, args.flavor, changed, args.every, tmp / "base.json")
        new = bytecodes(TREE, args.flavor, changed, args.every, tmp / "today.json")
    names = (_describe(args.base) or args.base, f"today {_describe('HEAD')}")
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


if __name__ == "__main__":
    main()
