"""A named watch hands out events once they are durable, and never starves while commits go on."""

from __future__ import annotations

import anyio

from bkjob_async import BkJobClient, MemoryStore, Poller, PollPolicy

from ..scripted import SCOPE, ScriptedServer, job_body


class LaggingStore(MemoryStore):
    """A store whose writes become durable in batches, every 15 ms, as a durable store's do.

    Under steady commits, whenever the consumer looks, the newest commit is not durable yet,
    although every earlier one soon is.
    """

    def __init__(self) -> None:
        super().__init__()
        self.durable = 0
        self._moved = anyio.Event()

    def settled(self, ticket: int) -> bool:
        return ticket <= self.durable

    async def wait_settled(self, ticket: int) -> None:
        while not self.settled(ticket):
            await self._moved.wait()

    async def write(self) -> None:
        while True:
            await anyio.sleep(0.01)
            self.durable = self._ticket
            # The waiters hear of it a little later (a writer thread's notice reaches the
            # event loop on a later turn): meanwhile more polls commit.
            await anyio.sleep(0.005)
            self._moved.set()
            self._moved = anyio.Event()


async def test_events_flow_while_commits_keep_coming(
    scripted: ScriptedServer, client: BkJobClient
) -> None:
    # Four jobs whose host flips on every poll: a commit every few milliseconds, for seconds.
    for job in range(1, 5):
        scripted.script(
            job, *[job_body(job, 2, [(1, 2, 0, [7 if n % 2 else 5])]) for n in range(2000)]
        )
    store = LaggingStore()
    policy = PollPolicy(interval=0.002, max_interval=0.004, jitter=0.0, max_in_flight=4)
    received = []
    async with (
        store,
        Poller(client, policy=policy, store=store) as poller,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(store.write)
        watch = poller.watch_jobs(SCOPE, [1, 2, 3, 4], name="flips")
        with anyio.move_on_after(2.0):
            async for event in watch:
                received.append(event)
                # Handed out only once durable.
                assert store.durable >= 1
        tg.cancel_scope.cancel()
    # Waiting each time for the newest commit (which is never durable when looked at) handed
    # out nothing here; the events committed before each wait go as soon as that wait ends.
    assert len(received) >= 50
