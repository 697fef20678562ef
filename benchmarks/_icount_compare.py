"""Instructions per poll, this tree beside an earlier commit's and raw aiohttp's, by callgrind.

``python benchmarks/_icount_compare.py [--base 51c62ef] [--flavors apigw-v3,...] [--kinds
unchanged,changed] [--jobs 50] [--every 500] [--windows 3] [--keep DIR] [--parallel 2]``

For each API generation's status read (``--flavors``: ``apigw-v3``, ``apigw-v4``,
``esb-jobv3``, ``esb-v2``) and each kind of poll (``unchanged``: the plain simulator;
``changed``: ``_simserver.py --flip``, one host moves in every answer), three contenders run
the same driver (``_icount_loop.py``), each against a simulator of its own in another process
(3 steps x 10 hosts a job, ``--jobs`` jobs): the engine of this tree, the engine of ``--base``
(a commit, checked out into a temporary worktree, or a directory holding a tree; its package
comes first on ``PYTHONPATH``, so the same driver, aiohttp and interpreter run it), and the
floor, raw aiohttp's loop on this tree's requests (``raw``: GET and read; for changed polls
``raw-json``: and ``json.loads``, the decode a user needs).

Each runs under callgrind with its instrumentation off (start-up, imports and every job's first
poll are never counted, and run several times faster); after its warm-up the driver says
``ready``, this script turns the instrumentation on (``callgrind_control -i on``) and the
driver marks ``--windows`` + 1 times, ``--every`` answers apart; callgrind writes the
instructions of each window (``--dump-before=_Py_GetAllocatedBlocks``). A window's
instructions over the answers it read is a poll's cost; the figure is the median window's, the
spread is the others'. Instructions do not move with the load of a shared machine. What moves
a window's figure is what is in flight at its marks: up to 32 polls sent and not answered, and
up to 16 changed answers read and not yet folded, whose work falls on one side of a mark and
whose answer on the other. Windows of 100 answers moved by a fifth for that (one commit's
unchanged polls read 353-531k in one run); windows of 500 (the default) by 3% or less, and
a run of the whole table takes about five minutes. ``--keep DIR`` keeps callgrind's files, for ``callgrind_annotate`` (one poll's
cost function by function, ``--inclusive=yes``) and ``--diff`` between two of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
sys.path.insert(0, str(TREE))

from benchmarks._harness import simulator  # noqa: E402

FLAVORS = ("apigw-v3", "apigw-v4", "esb-jobv3", "esb-v2")
FLOOR = {"unchanged": "raw", "changed": "raw-json"}


@dataclass(frozen=True)
class Count:
    """One contender's windows: instructions per answer read, each."""

    per_poll: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.per_poll)

    def spread(self) -> str:
        return f"{min(self.per_poll) / 1000:,.0f}-{max(self.per_poll) / 1000:,.0f}k"


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"callgrind wrote no totals in {path}")


def loop_env(tree: Path, flavor: str, warmup: int, every: int, windows: int) -> dict[str, str]:
    """The environment ``_icount_loop.py`` runs ``tree``'s engine in: on ``flavor``, its marks
    after ``warmup`` requests and then every ``every`` for ``windows`` windows
    (``BENCH_ICOUNT_MARKS``), the hash seed fixed."""
    return dict(
        os.environ,
        PYTHONPATH=str(tree),
        PYTHONHASHSEED="0",
        BENCH_ICOUNT_FLAVOR=flavor,
        BENCH_ICOUNT_MARKS=f"{warmup},{every},{windows}",
    )


def start_loop(
    mode: str, url: str, ids: Path, env: dict[str, str], wrapper: list[str] | None = None
) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``_icount_loop.py`` (run by ``wrapper``, such as callgrind) on the simulator at
    ``url`` and the jobs listed in ``ids``; return it and the words of its first line (it says
    ``ready`` and the package it imported, then waits for ``go``)."""
    proc = subprocess.Popen(
        [*(wrapper or []), sys.executable, str(HERE / "_icount_loop.py"), mode, url, str(ids), "0"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()


def go(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Let a loop ``start_loop`` started go; return the line of its marks and its stderr.

    The last window is written before the driver prints its marks: what is left (the loop's
    close, the interpreter's exit) is not counted, and costs minutes; not waited for.
    """
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    proc.kill()
    return line, proc.communicate()[1]


def count(
    mode: str, tree: Path, flavor: str, changed: bool, args: argparse.Namespace, out: Path
) -> Count:
    """Run one contender under callgrind against a simulator of its own; its windows."""
    with simulator(args.jobs, steps=3, hosts=10, flip=changed) as sim:
        ids = out.with_suffix(".ids.json")
        ids.write_text(json.dumps(sim.job_ids))
        env = loop_env(tree, flavor, 3 * args.jobs, args.every, args.windows)
        callgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--dump-before=_Py_GetAllocatedBlocks",
            f"--callgrind-out-file={out}",
        ]
        proc, ready = start_loop(mode, sim.url, ids, env, callgrind)
        if ready[:1] != ["ready"] or Path(ready[1]).resolve() != (tree / "bkjob_async").resolve():
            proc.kill()
            raise RuntimeError(f"{mode} on {tree}: the driver ran {ready!r}")
        subprocess.run(
            ["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True
        )
        line, stderr = go(proc)
        if not line.startswith('{"marks"'):
            raise RuntimeError(f"{mode} on {tree} failed: {line!r} {stderr[-2000:]}")
    marks = json.loads(line)["marks"]
    out.with_suffix(".marks.json").write_text(line)
    # Dump 1 is from instrumentation on to the first mark; dump k + 1 the window of mark k.
    per_poll = tuple(
        _totals(Path(f"{out}.{k + 2}")) / (marks[k + 1] - marks[k]) for k in range(args.windows)
    )
    return Count(per_poll)


def base_tree(base: str, stack: ExitStack) -> Path:
    """A directory holding ``base``: itself, or a temporary worktree of the commit."""
    if Path(base).is_dir():
        return Path(base).resolve()
    where = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "base"
    subprocess.run(
        ["git", "-C", str(TREE), "worktree", "add", "--detach", str(where), base],
        check=True,
        capture_output=True,
    )
    stack.callback(
        subprocess.run,
        ["git", "-C", str(TREE), "worktree", "remove", "--force", str(where)],
        check=False,
        capture_output=True,
    )
    return where


def main(argv: list[str] | None = None) -> dict[str, dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default="51c62ef", help="commits or trees' directories, comma-separated"
    )
    parser.add_argument("--flavors", default=",".join(FLAVORS))
    parser.add_argument("--kinds", default="unchanged,changed")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--every", type=int, default=500, help="answers in a window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2, help="contenders counted at once")
    parser.add_argument("--keep", type=Path, help="keep callgrind's files here")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    flavors, kinds, bases = (x.split(",") for x in (args.flavors, args.kinds, args.base))
    names = ["floor", *(_describe(b) for b in bases), f"today {_describe('HEAD')}"]
    with ExitStack() as stack:
        trees = [base_tree(b, stack) for b in bases]
        keep = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        keep.mkdir(parents=True, exist_ok=True)
        runs = {}
        for flavor in flavors:
            for kind in kinds:
                contenders = [(FLOOR[kind], TREE), *(("engine", t) for t in trees)]
                for i, (mode, tree) in enumerate([*contenders, ("engine", TREE)]):
                    runs[flavor, kind, i] = (mode, tree, flavor, kind == "changed")
        with ThreadPoolExecutor(args.parallel) as pool:
            futures = {
                key: pool.submit(count, *run, args, keep / f"{key[0]}-{key[1]}-{key[2]}")
                for key, run in runs.items()
            }
            counts = {key: future.result() for key, future in futures.items()}
    print(
        f"== instructions per poll (callgrind; {args.jobs} jobs of 3 steps x 10 hosts; windows"
        f" of {args.every} answers: the median of {args.windows}, their range beside; floor:"
        " raw aiohttp GET + read, and json.loads for changed polls)"
    )
    print(f"{'status read':11} {'poll':9}" + "".join(f" {n[:17]:>17}" for n in names))
    figures: dict[str, dict[str, object]] = {}
    for flavor in flavors:
        for kind in kinds:
            row = [counts[flavor, kind, i] for i in range(len(names))]
            today = row[-1].median
            print(
                f"{flavor:11} {kind:9}"
                + "".join(f" {c.median:8,.0f} {c.spread():>8}" for c in row)
                + f"   today/floor {today / row[0].median:.3f}"
                + "".join(
                    f", today/{n.split()[0]} {today / c.median:.3f}"
                    for n, c in zip(names[1:-1], row[1:-1], strict=True)
                )
            )
            figures[f"{flavor} {kind}"] = {
                n: {"median": c.median, "windows": list(c.per_poll)}
                for n, c in zip(names, row, strict=True)
            }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return figures


def _describe(rev: str) -> str:
    """A commit's short hash (a tree's: its HEAD's, with ``+changes`` if it has some)."""
    where = Path(rev) if Path(rev).is_dir() else TREE
    if Path(rev).is_dir():
        rev = "HEAD"
    done = subprocess.run(
        ["git", "-C", str(where), "log", "-1", "--format=%h", rev], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return done.stdout.strip() + ("+changes" if rev == "HEAD" and dirty else "")


if __name__ == "__main__":
    main()
