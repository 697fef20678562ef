"""The account, credential, file source, template, step detail, SQL and settings methods on the
in-memory simulator, on every generation that serves each: every request goes to bk-job's path
with the gateway's method and carries each parameter as given; every answer is typed; bad input
is refused before anything is sent; secrets never show."""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bkjob_async import (
    KEEP_SECRET,
    Account,
    AccountCategory,
    AccountType,
    BkJobClient,
    CredentialDetail,
    CredentialSecret,
    CredentialType,
    ExecutionAccount,
    FileSourceDetail,
    FileSourceType,
    InvalidRequestError,
    JobLaunch,
    JobStatus,
    JobTemplate,
    JobTemplatePage,
    NotFoundError,
    NotifyPolicy,
    PasswordEncryption,
    Scope,
    StepDetail,
    StepType,
    Targets,
    UnsupportedOperationError,
    UploadUrls,
)
from bkjob_async.testing import BkJobSimulator, MockTransport, StepPlan, json_response
from tests.conftest import local_client

SCOPE = Scope.biz(2)
GATEWAY, JOBV3, V2 = "apigw-v3", "esb-jobv3", "esb-v2"
ALL = [GATEWAY, JOBV3, V2]
V3 = [GATEWAY, JOBV3]
SECRET = "Pa55-w0rd-secret"
CREDENTIAL = "06644309e10e4068b3c7b32799668210"
REPO_URL = "https://bkrepo.example.com"


class Recorder:
    """The simulator in memory, keeping each request a client sent it."""

    def __init__(self, sim: BkJobSimulator) -> None:
        self.sim, self.inner, self.seen = sim, sim.transport(), []

    async def __call__(self, request: Any) -> Any:
        self.seen.append(request)
        return await self.inner.send(request)

    def last(self) -> tuple[str, str, dict[str, Any]]:
        """Return the last request's method, path and parameters (query or JSON body)."""
        request = self.seen[-1]
        path = urllib.parse.urlsplit(request.url).path
        if request.method == "GET":
            return "GET", path, dict(request.query or {})
        body = json.loads(request.body)
        return request.method, path, {k: v for k, v in body.items() if not k.startswith("bk_app")}


@pytest.fixture
async def sim() -> AsyncIterator[BkJobSimulator]:
    return BkJobSimulator(virtual_clock=True, seed=4, host_duration=2.0)


@pytest.fixture
def recorder(sim: BkJobSimulator) -> Recorder:
    return Recorder(sim)


@pytest.fixture
async def clients(recorder: Recorder):
    made: list[BkJobClient] = []

    def make(flavor: str) -> BkJobClient:
        transport = MockTransport(recorder)
        client = local_client(transport, "http://bkjob.test", username="alice", flavor=flavor)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def path(flavor: str, api: str) -> str:
    if flavor == GATEWAY:
        return f"/api/v3/{api}"
    return f"/api/c/compapi/v2/{'jobv3' if flavor == JOBV3 else 'job'}/{api}/"


def scoped(flavor: str, **params: Any) -> dict[str, Any]:
    scope = {"bk_biz_id": 2} if flavor == V2 else {"bk_scope_type": "biz", "bk_scope_id": "2"}
    return {**scope, **params}


def as_query(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}


async def unsupported(recorder: Recorder, call: Any) -> None:
    sent = len(recorder.seen)
    with pytest.raises(UnsupportedOperationError):
        await call
    assert len(recorder.seen) == sent  # refused before anything was sent


# --- file sources --------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3)
async def test_file_sources_are_created_updated_and_read(clients, recorder, flavor):
    client = clients(flavor)
    made = await client.create_file_source(
        SCOPE, code="sops_repo", alias="SOPS repo", credential_id=CREDENTIAL, base_url=REPO_URL
    )
    assert made == 1
    expected = scoped(
        flavor,
        code="sops_repo",
        alias="SOPS repo",
        type="BLUEKING_ARTIFACTORY",
        access_params={"base_url": REPO_URL},
        credential_id=CREDENTIAL,
    )
    assert recorder.last() == ("POST", path(flavor, "create_file_source"), expected)
    updated = await client.update_file_source(
        SCOPE,
        code="sops_repo",
        alias="renamed",
        credential_id=CREDENTIAL,
        base_url=REPO_URL,
        file_prefix="${UUID}",
    )
    assert updated == 1
    assert recorder.last() == (
        "POST",
        path(flavor, "update_file_source"),
        {**expected, "alias": "renamed", "file_prefix": "${UUID}"},
    )
    gateway = clients(GATEWAY)
    detail = await gateway.get_file_source_detail(SCOPE, "sops_repo")
    assert recorder.last() == (
        "GET",
        "/api/v3/get_file_source_detail",
        as_query(scoped(GATEWAY, code="sops_repo")),
    )
    assert isinstance(detail, FileSourceDetail)
    assert (detail.alias, detail.type, detail.enabled) == (
        "renamed",
        FileSourceType.BLUEKING_ARTIFACTORY,
        True,
    )
    assert detail.create_time is not None
    assert detail.create_time.tzinfo is not None
    with pytest.raises(NotFoundError):
        await gateway.get_file_source_detail(SCOPE, "nope")
    with pytest.raises(InvalidRequestError):  # 1260015: the code is taken
        await client.create_file_source(
            SCOPE, code="sops_repo", alias="x", credential_id="c", base_url="https://r.example.com"
        )


async def test_file_source_input_is_checked_before_sending(clients, recorder):
    client = clients(GATEWAY)
    good = {
        "code": "c1",
        "alias": "a",
        "credential_id": "cred",
        "base_url": "https://r.example.com",
    }
    for bad, error in (
        ({"code": "a/b"}, ValueError),
        ({"alias": "  "}, ValueError),
        ({"base_url": "ftp://r"}, ValueError),
        ({"base_url": None}, ValueError),  # an Artifactory source needs its root URL
        # @ValidFileSourceInfo: any access_params need an http(s) base_url, whatever the type
        (
            {"base_url": None, "type": "TENCENT_CLOUD_COS", "access_params": {"region": "gz"}},
            ValueError,
        ),
        (
            {
                "base_url": None,
                "type": "TENCENT_CLOUD_COS",
                "access_params": {"base_url": "cos.example.com"},
            },
            ValueError,
        ),
        ({"credential_id": 7}, TypeError),
        ({"file_prefix": 3}, TypeError),
    ):
        with pytest.raises(error):
            await client.create_file_source(SCOPE, **{**good, **bad})
    assert recorder.seen == []
    bare = {**good, "base_url": None, "type": "TENCENT_CLOUD_COS"}
    assert (
        await client.create_file_source(SCOPE, **bare) == 1
    )  # (no access_params: checked by none)
    assert recorder.last()[2]["access_params"] == {}
    await unsupported(recorder, clients(V2).create_file_source(SCOPE, **good))
    await unsupported(recorder, clients(JOBV3).get_file_source_detail(SCOPE, "c1"))


# --- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3)
async def test_credentials_are_stored_and_read_without_their_secret(clients, recorder, sim, flavor):
    client = clients(flavor)
    secret = CredentialSecret.for_username_password("admin", SECRET)
    credential_id = await client.create_credential(
        SCOPE, name="repo", secret=secret, description="bk-repo"
    )
    assert isinstance(credential_id, str)
    assert len(credential_id) == 32
    assert recorder.last() == (
        "POST",
        path(flavor, "create_credential"),
        scoped(
            flavor,
            name="repo",
            description="bk-repo",
            type="USERNAME_PASSWORD",
            credential_username="admin",
            credential_password=SECRET,
        ),
    )
    assert SECRET not in repr(recorder.seen[-1])
    again = await client.update_credential(
        SCOPE,
        credential_id,
        name="repo2",
        secret=CredentialSecret.for_username_password("admin2", KEEP_SECRET),
    )
    assert again == credential_id
    method, where, params = recorder.last()
    assert (method, where) == ("POST", path(flavor, "update_credential"))
    assert (params["id"], params["credential_password"]) == (credential_id, KEEP_SECRET)
    detail = await clients(GATEWAY).get_credential_detail(SCOPE, credential_id)
    assert recorder.last() == (
        "GET",
        "/api/v3/get_credential_detail",
        as_query(scoped(GATEWAY, id=credential_id)),
    )
    assert isinstance(detail, CredentialDetail)
    assert (detail.name, detail.type, detail.creator) == (
        "repo2",
        CredentialType.USERNAME_PASSWORD,
        "alice",
    )
    assert sim._world.store.credentials[credential_id].values == ("admin2", SECRET)  # kept
    with pytest.raises(NotFoundError):  # 1243048
        await clients(GATEWAY).get_credential_detail(SCOPE, "f" * 32)


async def test_a_credential_secret_never_shows_in_errors_or_logs(clients, recorder, caplog):
    echo: list[Any] = []

    def handler(request: Any) -> Any:
        echo.append(request)
        return json_response(
            {
                "result": False,
                "code": 1241010,
                "message": f"bad: {request.body.decode()}",
                "data": None,
            }
        )

    client = BkJobClient(
        "http://bkjob.test",
        app_code="a",
        app_secret="s" * 16,
        username="u",
        transport=MockTransport(handler),
    )
    caplog.set_level(logging.DEBUG)
    secret = CredentialSecret.for_app_id_secret_key("AK-0123456789", "SK-0123456789")
    async with client:
        with pytest.raises(InvalidRequestError) as raised:
            await client.create_credential(SCOPE, name="n", secret=secret)
        with pytest.raises(InvalidRequestError) as raised_account:
            await client.create_account(
                SCOPE, account="w", type=AccountType.WINDOWS, password=SECRET
            )
    for error in (raised.value, raised_account.value):
        text = f"{error} {error!r} {error.args}"
        for value in ("AK-0123456789", "SK-0123456789", SECRET):
            assert value not in text
    assert "SK-0123456789" in echo[0].body.decode()  # (the server did get it)
    for record in caplog.records:
        for value in ("AK-0123456789", "SK-0123456789", SECRET):
            assert value not in record.getMessage()


async def test_credential_input_is_checked_before_sending(clients, recorder):
    client = clients(GATEWAY)
    with pytest.raises(TypeError):
        await client.create_credential(SCOPE, name="n", secret="password")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blank"):
        await client.create_credential(SCOPE, name=" ", secret=CredentialSecret.for_password("p"))
    assert recorder.seen == []
    await unsupported(
        recorder,
        clients(V2).create_credential(SCOPE, name="n", secret=CredentialSecret.for_password("p")),
    )
    await unsupported(recorder, clients(JOBV3).get_credential_detail(SCOPE, "x"))


# --- accounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3)
async def test_the_account_lifecycle(clients, recorder, sim, flavor):
    client = clients(flavor)
    made = await client.create_account(
        SCOPE,
        account="Admin",
        type=AccountType.WINDOWS,
        password=SECRET,
        alias="win-admin",
        description="d",
    )
    assert recorder.last() == (
        "POST",
        path(flavor, "create_account"),
        scoped(
            flavor,
            account="Admin",
            type=2,
            category=1,
            password=SECRET,
            alias="win-admin",
            description="d",
        ),
    )
    assert isinstance(made, ExecutionAccount)
    assert (made.alias, made.type, made.category, made.os) == (
        "win-admin",
        AccountType.WINDOWS,
        AccountCategory.SYSTEM,
        "Windows",
    )
    page = await client.get_account_list(SCOPE, alias="win-admin")
    assert [a.id for a in page.items] == [made.id]
    changed = await clients(GATEWAY).update_account(SCOPE, made.id, description="ops")
    assert recorder.last() == (
        "POST",
        "/api/v3/update_account",
        scoped(GATEWAY, id=made.id, description="ops"),
    )
    assert changed.description == "ops"
    assert changed.alias == "win-admin"
    gone = await client.delete_account(SCOPE, made.id)
    assert recorder.last() == ("POST", path(flavor, "delete_account"), scoped(flavor, id=made.id))
    assert gone.id == made.id
    with pytest.raises(NotFoundError):  # 1244003
        await client.delete_account(SCOPE, made.id)


async def test_account_input_is_checked_before_sending(clients, recorder):
    client = clients(GATEWAY)
    for kwargs, error in (
        ({"account": "w", "type": AccountType.WINDOWS}, ValueError),  # a Windows account's password
        ({"account": "d", "type": AccountType.MYSQL, "category": AccountCategory.DB}, ValueError),
        ({"account": "x", "type": 7}, ValueError),
        ({"account": "", "type": 1}, TypeError),
        ({"account": "x", "type": 1, "alias": "a" * 256}, ValueError),
        ({"account": "x", "type": 2, "password": "p" * 118}, ValueError),
    ):
        with pytest.raises(error):
            await client.create_account(SCOPE, **kwargs)
    with pytest.raises(ValueError, match="at least one"):
        await client.update_account(SCOPE, 5)
    with pytest.raises((TypeError, ValueError)):
        await client.delete_account(SCOPE, 0)
    assert recorder.seen == []
    await unsupported(recorder, clients(JOBV3).update_account(SCOPE, 5, alias="a"))
    await unsupported(recorder, clients(V2).create_account(SCOPE, account="a", type=1))
    await unsupported(recorder, clients(V2).delete_account(SCOPE, 5))
    await unsupported(recorder, clients(JOBV3).get_account_password_encryption_metadata())
    await unsupported(recorder, clients(GATEWAY).get_own_db_account_list(SCOPE))


async def test_password_encryption_metadata(clients, recorder):
    meta = await clients(GATEWAY).get_account_password_encryption_metadata()
    assert recorder.last() == ("GET", "/api/v3/get_account_password_encryption_metadata", {})
    assert isinstance(meta, PasswordEncryption)
    assert meta.encrypt_algorithm == "RSA"


async def test_v2_own_db_accounts(clients, recorder, sim):
    sim.add_account(SCOPE, "reports", category=2, type=9)
    accounts = await clients(V2).get_own_db_account_list(SCOPE)
    assert recorder.last() == ("POST", path(V2, "get_own_db_account_list"), scoped(V2))
    assert [(a.alias, a.category) for a in accounts] == [
        ("mysql", AccountCategory.DB),
        ("reports", AccountCategory.DB),
    ]
    assert all(a.create_time is not None for a in accounts)


# --- templates and step details ------------------------------------------------------------------


@pytest.mark.parametrize("flavor", V3)
async def test_templates_page_and_iterate(clients, recorder, sim, flavor):
    for plan_id in (301, 302, 303):
        sim.add_plan(plan_id, [StepPlan()], name=f"deploy {plan_id}", scope=SCOPE)
        sim.advance(1)
    client = clients(flavor)
    page = await client.get_job_template_list(
        SCOPE, name="deploy", creator="admin", start=1, length=1
    )
    method, where, params = recorder.last()
    expected = scoped(flavor, name="deploy", creator="admin", start=1, length=1)
    assert (method, where) == (
        ("GET" if flavor == GATEWAY else "POST"),
        path(flavor, "get_job_template_list"),
    )
    assert params == (as_query(expected) if flavor == GATEWAY else expected)
    assert isinstance(page, JobTemplatePage)
    assert page.total == 3
    assert [t.id for t in page.items] == [302 + 100_000]
    every = [t async for t in client.iter_job_templates(SCOPE, name="deploy", page_size=2)]
    assert [t.id for t in every] == [303 + 100_000, 302 + 100_000, 301 + 100_000]
    assert all(isinstance(t, JobTemplate) and t.create_time is not None for t in every)
    await unsupported(recorder, clients(V2).get_job_template_list(SCOPE))


async def test_step_detail_of_a_script_launch(clients, recorder):
    client = clients(GATEWAY)
    launch = await client.fast_execute_script(
        SCOPE,
        targets=Targets(host_ids=[1001]),
        account=Account(alias="root"),
        script_content="echo hi",
        script_param="--token t0ps3cret-value",
        is_param_sensitive=True,
    )
    assert launch.step_instance_id is not None
    detail = await client.get_step_instance_detail(
        SCOPE, launch.job_instance_id, launch.step_instance_id
    )
    assert recorder.last() == (
        "GET",
        "/api/v3/get_step_instance_detail",
        as_query(
            scoped(
                GATEWAY,
                job_instance_id=launch.job_instance_id,
                step_instance_id=launch.step_instance_id,
            )
        ),
    )
    assert isinstance(detail, StepDetail)
    assert detail.type is StepType.SCRIPT
    assert detail.script is not None
    assert detail.script.content == "echo hi"
    assert detail.script.param == "******"
    assert detail.script.param_sensitive
    assert detail.script.account is not None
    assert detail.script.account.name == "root"
    await unsupported(recorder, clients(JOBV3).get_step_instance_detail(SCOPE, 1, 2))


# --- fast_execute_sql ----------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ALL)
async def test_fast_execute_sql_launches_a_job_the_status_follows(clients, recorder, sim, flavor):
    client = clients(flavor)
    db = sim.add_account(SCOPE, "reports", category=2, type=9)
    targets = Targets(ips=["0:10.0.0.1"]) if flavor == V2 else Targets(host_ids=[1001, 1002])
    launch = await client.fast_execute_sql(
        SCOPE,
        targets=targets,
        db_account_id=db,
        script_content="select 1;",
        script_timeout=60,
        task_name="q",
    )
    method, where, params = recorder.last()
    assert (method, where) == ("POST", path(flavor, "fast_execute_sql"))
    assert params["db_account_id"] == db
    assert params["task_name"] == "q"
    assert params["script_content"] == "c2VsZWN0IDE7"  # base64
    assert params["script_timeout" if flavor == V2 else "timeout"] == 60
    assert isinstance(launch, JobLaunch)
    assert launch.job_instance_name == "q"
    assert launch.step_instance_id is None
    sim.advance(30)
    status = await client.get_job_instance_status(SCOPE, launch.job_instance_id)
    assert status.job.status is JobStatus.SUCCESS
    assert [s.type for s in status.steps] == [StepType.SQL]


async def test_fast_execute_sql_input_is_checked_before_sending(clients, recorder):
    targets = Targets(host_ids=[1001])
    client = clients(GATEWAY)
    with pytest.raises(ValueError, match="exactly one"):
        await client.fast_execute_sql(SCOPE, targets=targets, db_account_id=1)
    with pytest.raises(ValueError, match="exactly one"):
        await client.fast_execute_sql(
            SCOPE, targets=targets, db_account_id=1, script_content="x", script_id="y"
        )
    with pytest.raises((TypeError, ValueError)):
        await client.fast_execute_sql(SCOPE, targets=targets, db_account_id=0, script_content="x")
    with pytest.raises(ValueError, match="timeout"):
        await client.fast_execute_sql(
            SCOPE, targets=targets, db_account_id=1, script_content="x", script_timeout=0
        )
    with pytest.raises(ValueError, match="v2"):
        await clients(V2).fast_execute_sql(
            SCOPE, targets=Targets(ips=["0:10.0.0.1"]), db_account_id=1, script_id="abc"
        )
    assert recorder.seen == []


# --- the rest ------------------------------------------------------------------------------------


async def test_notify_config(clients, recorder):
    policies = await clients(GATEWAY).get_notify_config(SCOPE)
    assert recorder.last() == ("GET", "/api/v3/get_notify_config", as_query(scoped(GATEWAY)))
    assert [p.trigger_type for p in policies] == ["PAGE_EXECUTE", "API_INVOKE", "TIMER_TASK"]
    assert all(isinstance(p, NotifyPolicy) for p in policies)
    assert policies[0].enabled("FAIL") == ("mail",)
    await unsupported(recorder, clients(JOBV3).get_notify_config(SCOPE))


async def test_service_version_and_upload_urls_on_the_esb(clients, recorder):
    client = clients(JOBV3)
    assert await client.get_latest_service_version() == "3.11.4"
    assert recorder.last() == ("POST", path(JOBV3, "get_latest_service_version"), {})
    urls = await client.generate_local_file_upload_url(SCOPE, ["b.txt", "a.txt"])
    assert recorder.last() == (
        "POST",
        path(JOBV3, "generate_local_file_upload_url"),
        scoped(JOBV3, file_name_list=["b.txt", "a.txt"]),
    )
    assert isinstance(urls, UploadUrls)
    assert [u.file_name for u in urls] == ["b.txt", "a.txt"]
    assert all(u.path.endswith("/alice/" + u.file_name) for u in urls)
    assert "token" not in repr(urls)
    with pytest.raises(TypeError):
        await client.generate_local_file_upload_url(SCOPE, "a.txt")  # one str, not names
    await unsupported(recorder, clients(GATEWAY).get_latest_service_version())
    await unsupported(recorder, clients(GATEWAY).generate_local_file_upload_url(SCOPE, ["a"]))
    await unsupported(recorder, clients(V2).get_latest_service_version())
