"""Shared benchmark plumbing: a simulator in another process, CPU pinning, loop-lag probes."""

from __future__ import annotations

import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from array import array
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from types import FrameType

HERE = Path(__file__).parent
CLIENT_CORE, SERVER_CORE = 0, 1


@dataclass
class Simulator:
    url: str
    job_ids: list[int]


def pin_client() -> None:
    """Keep the measured client on one core, the simulator on the other (2-core machine)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CORE})


def first_line(proc: subprocess.Popen[str]) -> Any:
    """Return the JSON a simulator child prints first (its address and jobs), once it has."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the simulator process did not start")
    return json.loads(line)


def stop_child(proc: subprocess.Popen[str], timeout: float) -> None:
    """Stop a simulator child: close its input (its signal to end), wait ``timeout`` s, then kill."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


@contextmanager
def simulator(
    jobs: int,
    steps: int = 3,
    hosts: int = 10,
    duration: tuple[float, float] | None = None,
    *,
    flip: bool = False,
    status_only: bool = False,
) -> Iterator[Simulator]:
    """Start the simulator in a child process; yield its URL and job ids.

    With ``flip``, every answer of a job's status differs from its last one in one host's
    status (``_simserver.py --flip``): every poll is a changed poll. With ``status_only``, it
    serves the status read alone and every other API is a 404 (``--status-only``).
    """
    core = ["--core", str(SERVER_CORE)] if (os.cpu_count() or 1) > 1 else []
    if flip:
        core.append("--flip")
    if status_only:
        core.append("--status-only")
    if duration is not None:
        core += ["--duration", str(duration[0]), str(duration[1])]
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "_simserver.py"),
            "--jobs",
            str(jobs),
            "--steps",
            str(steps),
            "--hosts",
            str(hosts),
            *core,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = first_line(proc)
        yield Simulator(info["url"], info["job_ids"])
    finally:
        stop_child(proc, timeout=10)


class LoopLag:
    """Measure event-loop lag: how late a 10 ms sleep wakes up, sampled continuously."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await anyio.sleep(self.period)
            self.samples.append(max(0.0, time.perf_counter() - start - self.period))

    def p(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        return (
            f"loop lag p50 {self.p(0.5) * 1000:.1f} ms, p99 {self.p(0.99) * 1000:.1f} ms, "
            f"max {max(self.samples, default=0) * 1000:.1f} ms over {len(self.samples)} samples"
        )


class StallSampler:
    """Where the loop's thread was in its long stalls: a ``SIGPROF`` each ``every`` seconds of
    the process's CPU time files the Python stack it interrupts (the innermost ``depth``
    frames) with the thread's CPU clock, in a ring of the last ``keep``; ``between`` gives the
    stacks of a span of that clock. A signal that comes during one long call in C (a free of
    many objects, a pass of the collector) is handled when it returns: the stack is where
    Python went on, the sample's time when it did (so a stall shows as one late sample, at the
    line after the call that held it). Started by ``StallProbe`` with ``BENCH_STALL_SAMPLE``
    (milliseconds: the CPU lateness from which a stall's stacks are kept).
    """

    def __init__(self, every: float = 0.0005, depth: int = 8, keep: int = 8192) -> None:
        self.every, self.depth = every, depth
        self.ring: deque[tuple[float, tuple[str, ...]]] = deque(maxlen=keep)

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        stack = []
        while frame is not None and len(stack) < self.depth:
            code = frame.f_code
            stack.append(f"{code.co_qualname} ({Path(code.co_filename).name}:{frame.f_lineno})")
            frame = frame.f_back
        self.ring.append((time.thread_time(), tuple(stack)))

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.every, self.every)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0.0, 0.0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def between(self, start: float, end: float) -> list[tuple[float, tuple[str, ...]]]:
        """The samples taken while the thread's CPU clock ran from ``start`` to ``end``
        (their time as an offset from ``start``). The timer's signal is held meanwhile: a
        sample taken while the ring is read would change it under the loop reading it."""
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
        try:
            ring = list(self.ring)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return [(t - start, stack) for t, stack in ring if start <= t <= end]


class StallProbe:
    """Loop stalls, per phase: a task sleeps ``period`` (1 ms) over and over and records how
    late it wakes, on the wall clock and on the loop thread's CPU clock.

    Late on the wall clock is what a user of the loop sees; on a machine shared with other
    processes it also holds the time this one waited for a core. Late on the thread's CPU clock
    is the work the loop ran meanwhile: the stall the process makes itself, the one a change of
    code moves. A full pass of the garbage collector (generation 2) walks every object the
    process tracks, the program's as much as the poller's: the stalls it makes are told apart
    (``work``: the CPU lateness of samples without one). ``phase(name)`` files the samples that
    follow under ``name`` (``None``: nowhere); ``figures()`` gives each phase's figures.
    """

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        #: Per phase: (wall lateness, CPU lateness, CPU lateness without a full pass, longest
        #: pass of each generation in CPU seconds). Arrays, not lists of floats: the probe's
        #: samples stay out of the RSS measured beside it (8 bytes each, not 32).
        self.phases: dict[str, tuple[array[float], array[float], array[float], list[float]]] = {}
        self._current: tuple[array[float], array[float], array[float], list[float]] | None = None
        self._started = 0.0
        self._full = False
        #: ``BENCH_STALL_SAMPLE`` (ms): each stall of at least that much CPU lateness, with the
        #: stacks ``StallSampler`` took in it and the collector's passes in it (``stalls``).
        threshold = os.environ.get("BENCH_STALL_SAMPLE")
        self.threshold = float(threshold) / 1000 if threshold else None
        self.sampler = StallSampler() if threshold else None
        self.stalls: list[dict[str, Any]] = []
        self._passes: list[tuple[int, float]] = []
        self._name: str | None = None

    def phase(self, name: str | None) -> None:
        self._name = name
        if name is None:
            self._current = None
        else:
            self._current = self.phases.setdefault(
                name, (array("d"), array("d"), array("d"), [0.0, 0.0, 0.0])
            )

    def __call__(self, phase: str, info: dict[str, int]) -> None:  # (a ``gc.callbacks`` entry)
        if phase == "start":
            self._started = time.thread_time()
            return
        generation = info["generation"]
        self._full = self._full or generation == 2
        took = time.thread_time() - self._started
        if self.sampler is not None:
            self._passes.append((generation, took))
        if self._current is not None:
            passes = self._current[3]
            passes[generation] = max(passes[generation], took)

    async def run(self) -> None:
        period, wall, cpu = self.period, time.perf_counter, time.thread_time
        gc.callbacks.append(self)
        if self.sampler is not None:
            self.sampler.start()
        try:
            while True:
                start, start_cpu, self._full = wall(), cpu(), False
                self._passes.clear()
                await anyio.sleep(period)
                if self._current is not None:
                    late, late_cpu, work, _ = self._current
                    late.append(max(0.0, wall() - start - period))
                    late_cpu.append(max(0.0, cpu() - start_cpu - period))
                    if not self._full:
                        work.append(late_cpu[-1])
                    if self.threshold is not None and late_cpu[-1] >= self.threshold:
                        self._keep_stall(start_cpu, late_cpu[-1])
        finally:
            gc.callbacks.remove(self)
            if self.sampler is not None:
                self.sampler.stop()

    def _keep_stall(self, start_cpu: float, late: float) -> None:
        assert self.sampler is not None
        samples = self.sampler.between(start_cpu, time.thread_time())
        self.stalls.append(
            {
                "phase": self._name,
                "cpu_late_ms": late * 1000,
                "gc_passes_ms": [(g, took * 1000) for g, took in self._passes],
                "samples": [(round(t * 1000, 2), list(stack)) for t, stack in samples],
            }
        )

    def figures(self) -> dict[str, dict[str, float]]:
        """Per phase: ``max``/``p99`` (wall), ``cpu_max``/``cpu_p99``, ``work_max`` (CPU,
        samples without a full pass), ``gc2`` (the longest full pass, CPU), ``samples``."""
        return {name: _stalls(*samples) for name, samples in self.phases.items()}

    def together(self, names: tuple[str, ...]) -> dict[str, float]:
        """The figures of ``figures`` over the samples of the phases ``names`` taken as one."""
        parts = [self.phases[name] for name in names if name in self.phases]
        joined: tuple[array[float], array[float], array[float]] = (
            array("d"),
            array("d"),
            array("d"),
        )
        for part in parts:
            for into, samples in zip(joined, part[:3], strict=True):
                into.extend(samples)
        passes = [max((part[3][g] for part in parts), default=0.0) for g in range(3)]
        return _stalls(*joined, passes)


def _stalls(
    late: array[float], late_cpu: array[float], work: array[float], passes: list[float]
) -> dict[str, float]:
    def top(samples: array[float], q: float = 1.0) -> float:
        ordered = sorted(samples) or [0.0]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "max": top(late),
        "p99": top(late, 0.99),
        "cpu_max": top(late_cpu),
        "cpu_p99": top(late_cpu, 0.99),
        "work_max": top(work),
        "gc2": passes[2],
        "samples": len(late),
    }


def take_turns(procs: list[subprocess.Popen[str]], turn: float = 0.1) -> None:
    """Run ``procs`` (already started) one at a time, ``turn`` seconds each, until all exit.

    Loops measured **in turns** see the same drift of this machine's speed (it moves by +-15%
    over minutes), as loops run side by side do, but each runs alone on its core, as it would
    in use, instead of being switched with the other every few milliseconds. Outside its turn
    a process is stopped (``SIGSTOP``), and its CPU clock with it.
    """
    live = [p for p in procs if p.poll() is None]
    for proc in live[1:]:
        os.kill(proc.pid, signal.SIGSTOP)
    current = 0
    try:
        while live:
            time.sleep(turn)
            running = live[current]
            live = [p for p in live if p.poll() is None]
            if not live:
                break
            if running in live:
                os.kill(running.pid, signal.SIGSTOP)
                current = (live.index(running) + 1) % len(live)
            else:
                current %= len(live)
            os.kill(live[current].pid, signal.SIGCONT)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)


async def warmed_up(poller: Any, jobs: int, warmup: float) -> None:
    """Return once ``poller`` has sent every one of ``jobs`` jobs its first poll, and
    ``warmup`` s more have passed."""
    while poller._requests < jobs:
        await anyio.sleep(0.05)
    await anyio.sleep(warmup)


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(lines: list[str]) -> None:
    """Print a block of results so pytest -s (and make bench) shows it."""
    print("\n" + "\n".join(lines), flush=True)


class SteeredSimulator:
    """A simulator in a child process (``_ctlsim.py``) that takes commands over stdin."""

    def __init__(self, proc: subprocess.Popen[str], url: str, job_ids: list[int]) -> None:
        self._proc = proc
        self.url = url
        self.job_ids = job_ids

    def command(self, line: str) -> dict[str, object]:
        """Send one command; return its JSON answer (blocks for a moment: call between runs)."""
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        answer: dict[str, object] = json.loads(self._proc.stdout.readline())
        return answer

    async def acommand(self, line: str) -> dict[str, object]:
        """``command`` from async code, off the event loop."""
        return await anyio.to_thread.run_sync(self.command, line)


@contextmanager
def steered_simulator(
    jobs: int, hosts: int = 3, duration: tuple[float, float] | None = None
) -> Iterator[SteeredSimulator]:
    """Start ``_ctlsim.py`` in a child process pinned to the server core."""
    args = ["--jobs", str(jobs), "--hosts", str(hosts)]
    if (os.cpu_count() or 1) > 1:
        args += ["--core", str(SERVER_CORE)]
    if duration is not None:
        args += ["--duration", str(duration[0]), str(duration[1])]
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_ctlsim.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = first_line(proc)
        yield SteeredSimulator(proc, info["url"], info["job_ids"])
    finally:
        stop_child(proc, timeout=10)


class GcPauses:
    """Time every garbage collection through ``gc.callbacks``, per generation.

    Use as a context manager; ``longest[g]`` is the longest pass of generation ``g`` (seconds),
    ``count[g]`` how many ran, ``total`` the time all took. ``reset()`` starts a new window.
    """

    def __init__(self) -> None:
        self.longest = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.total = 0.0
        self._start = 0.0

    def reset(self) -> None:
        self.longest = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.total = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        took = time.perf_counter() - self._start
        generation = info["generation"]
        self.count[generation] += 1
        self.total += took
        self.longest[generation] = max(self.longest[generation], took)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> str:
        counts = "/".join(str(c) for c in self.count)
        longest = "/".join(f"{t * 1000:.1f}" for t in self.longest)
        return f"collections gen0/1/2 {counts}, longest {longest} ms, {self.total:.2f} s in all"


def tracked_objects() -> int:
    """How many objects the cyclic collector tracks now (after a full collection)."""
    gc.collect()
    return len(gc.get_objects())
