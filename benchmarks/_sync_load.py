"""One contender of the 32-thread launch-and-wait load, run as its own process.

``python benchmarks/_sync_load.py CONFIG_JSON`` prints one JSON line of results. Contenders
(``config["contender"]``), each in ``threads`` threads, each thread launching ``jobs`` jobs
one after another (``fast_execute_script`` on ESB ``jobv3``, the flavor the SDK speaks) and
waiting for each to end before the next:

- ``sdk``: the official SDK (``bkapi-component-open`` on ``bkapi-client-core``), one client
  per thread kept ``with client:`` (its session keeps connections: the SDK at its best), and
  the loop these applications run: sleep 5 s, ``get_job_instance_status``, until finished;
- ``sync``: ``bkjob_async.sync``: one ``BkJobClient`` and one ``Poller`` shared by the
  threads (as in a Django or Celery process), each thread ``Poller.wait_finished``.

Each process waits for ``start_at`` (a ``time.time()`` reading in the config) after its first
call, so both start together. It reports each job's id with the ``time.time()`` its caller got
it back, and its CPU time (user + system) from the start to the last return.
"""

from __future__ import annotations

import base64
import contextlib
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _harness import pin_client
from bkapi_component.open.client import Client
from requests.adapters import HTTPAdapter

from bkjob_async import Account, ApiFlavor, NotFoundError, Scope, Targets
from bkjob_async.sync import BkJobClient, Poller

SCOPE = Scope.biz(2)
SCOPE_PARAMS = {"bk_scope_type": "biz", "bk_scope_id": 2}
AUTH = {"bk_app_code": "bench", "bk_app_secret": "secret", "bk_username": "admin"}
#: The fixed loop of bk-sops, bk-nodeman and blueking-dbm.
SDK_INTERVAL = 5.0
SCRIPT = "sleep 10; echo done"
HOSTS = [101, 102]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sdk_client(url: str) -> Any:
    client = Client(endpoint=url, bk_api_ver="v2")
    client.update_bkapi_authorization(**AUTH)
    client.session.mount("http://", HTTPAdapter(pool_maxsize=1))
    client.__enter__()  # ``with client:``: the session keeps its connection between calls
    return client


def _sdk_launch(client: Any, name: str) -> int:
    body = client.jobv3.fast_execute_script(
        {
            **SCOPE_PARAMS,
            "task_name": name,
            "script_content": base64.b64encode(SCRIPT.encode()).decode(),
            "script_language": 1,
            "account_alias": "root",
            "target_server": {"host_id_list": HOSTS},
        }
    )
    if not body.get("result"):
        raise RuntimeError(f"the launch failed: {body}")
    return int(body["data"]["job_instance_id"])


def _sdk_wait(client: Any, job_id: int) -> None:
    """What these applications run: every 5 s, the job's status, until it is finished."""
    params = {**SCOPE_PARAMS, "job_instance_id": job_id, "return_ip_result": False}
    while True:
        time.sleep(SDK_INTERVAL)
        body = client.jobv3.get_job_instance_status(params)
        if body.get("result") and body["data"]["finished"]:
            return


def run(config: dict[str, Any]) -> dict[str, Any]:
    url, threads, jobs = config["url"], config["threads"], config["jobs"]
    returned: list[tuple[int, float]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    if config["contender"] == "sdk":
        clients = [_sdk_client(url) for _ in range(threads)]
        clients[0].jobv3.get_job_instance_status({**SCOPE_PARAMS, "job_instance_id": 1})

        def work(n: int) -> None:
            for k in range(jobs):
                job = _sdk_launch(clients[n], f"sdk-{n}-{k}")
                _sdk_wait(clients[n], job)
                with lock:
                    returned.append((job, time.time()))

        close = [lambda c=c: c.__exit__(None, None, None) for c in clients]
    else:
        client = BkJobClient(
            url, flavor=ApiFlavor.ESB_JOBV3, app_code="bench", app_secret="secret", username="admin"
        )
        poller = Poller(client)
        with contextlib.suppress(NotFoundError):  # (first calls build lazily: not timed)
            client.get_job_instance_status(SCOPE, 1)

        def work(n: int) -> None:
            for k in range(jobs):
                launch = client.fast_execute_script(
                    SCOPE,
                    script_content=SCRIPT,
                    targets=Targets(host_ids=HOSTS),
                    account=Account(alias="root"),
                    task_name=f"sync-{n}-{k}",
                )
                poller.wait_finished(SCOPE, launch.job_instance_id, timeout=600)
                with lock:
                    returned.append((launch.job_instance_id, time.time()))

        close = [poller.close, client.close]

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(n,)) for n in range(threads)]
    time.sleep(max(0.0, config["start_at"] - time.time()))
    cpu0, wall0 = _cpu(), time.time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cpu, wall = _cpu() - cpu0, time.time() - wall0
    for end in close:
        end()
    if errors:
        raise RuntimeError(f"{len(errors)} thread(s) failed") from errors[0]
    return {"returned": returned, "cpu": cpu, "wall": wall}


if __name__ == "__main__":
    pin_client()
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
