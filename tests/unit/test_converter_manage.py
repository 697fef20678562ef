"""Answers of the account, credential, file source, template, step detail and settings APIs, as
bk-job's docs print them, structured into models; secrets never in a ``repr``."""

from __future__ import annotations

import datetime as dt

import pytest

from bkjob_async._converter import Generation, structure
from bkjob_async.errors import ResponseFormatError
from bkjob_async.models import AccountCategory, AccountType, ExecutionAccount, StepType
from bkjob_async.models.files import (
    KEEP_SECRET,
    CredentialDetail,
    CredentialSecret,
    CredentialType,
    FileSourceDetail,
    FileSourceType,
    UploadUrls,
)
from bkjob_async.models.settings import NotifyPolicy, PasswordEncryption
from bkjob_async.models.templates import (
    JobTemplatePage,
    ScriptSource,
    StepDetail,
    TransferMode,
)

UTC = dt.timezone.utc
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def v3(data, cls):
    return structure(data, cls, Generation.V3, SHANGHAI)


def test_credential_detail_from_the_docs_example():
    data = {
        "bk_scope_type": "biz",
        "bk_scope_id": "2",
        "id": "xxx",
        "name": "repo",
        "type": "USERNAME_PASSWORD",
        "description": None,
        "creator": "admin",
        "create_time": 1712049204719,
        "last_modify_user": "admin",
        "last_modify_time": 1712049204719,
    }
    detail = v3(data, CredentialDetail)
    assert detail.type is CredentialType.USERNAME_PASSWORD
    assert detail.create_time == dt.datetime(2024, 4, 2, 9, 13, 24, 719000, tzinfo=UTC)
    assert v3({**data, "type": "NEW_KIND"}, CredentialDetail).type == "NEW_KIND"


def test_file_source_detail_from_the_docs_example():
    data = {
        "id": 10001,
        "code": "bkrepo-1",
        "alias": "xxx",
        "status": 0,
        "file_source_type_code": "BLUEKING_ARTIFACTORY",
        "is_public": False,
        "credential_id": "xxx",
        "enable": True,
        "creator": "admin",
        "create_time": 1712050614742,
        "last_modify_user": "admin",
        "last_modify_time": 1712050614742,
    }
    source = v3(data, FileSourceDetail)
    assert (source.id, source.code, source.type) == (
        10001,
        "bkrepo-1",
        FileSourceType.BLUEKING_ARTIFACTORY,
    )
    assert source.enabled is True
    assert source.is_public is False
    with pytest.raises(ResponseFormatError):
        v3({**data, "id": "x"}, FileSourceDetail)


def test_template_page_reads_seconds():
    page = v3(
        {
            "start": 0,
            "length": 20,
            "total": 1,
            "data": [{"id": 100, "name": "test", "creator": "admin", "create_time": 1546272000}],
        },
        JobTemplatePage,
    )
    (template,) = page.items
    assert template.create_time == dt.datetime(2018, 12, 31, 16, tzinfo=UTC)
    assert page.total == 1


def test_step_detail_of_each_kind():
    server = {"ip_list": [{"bk_host_id": 1, "bk_cloud_id": 0, "ip": "127.0.0.1"}]}
    script = v3(
        {
            "id": 4,
            "name": "Step 1",
            "type": 1,
            "script_info": {
                "script_type": 2,
                "script_id": "abc",
                "script_language": 6,
                "script_param": "******",
                "script_timeout": 1000,
                "account": {"id": 123, "name": "root"},
                "server": server,
                "is_param_sensitive": 1,
                "is_ignore_error": 0,
            },
        },
        StepDetail,
    )
    assert script.type is StepType.SCRIPT
    assert script.file is None
    info = script.script
    assert info is not None
    assert info.source is ScriptSource.SCOPE
    assert info.language == 6
    assert info.targets is not None
    assert info.targets.ips == ((0, "127.0.0.1"),)
    assert info.account is not None
    assert info.account.name == "root"
    files = v3(
        {
            "id": 5,
            "name": "copy",
            "type": 2,
            "file_info": {
                "file_source_list": [
                    {
                        "file_type": 1,
                        "file_list": ["/tmp/1.txt"],
                        "server": server,
                        "account": {"id": 1},
                    },
                    {"file_type": 3, "file_list": ["a/b"], "file_source_id": 7},
                ],
                "file_destination": {
                    "path": "/tmp",
                    "account": {"id": 1, "name": "root"},
                    "server": server,
                },
                "timeout": 1000,
                "source_speed_limit": 10,
                "destination_speed_limit": 10,
                "transfer_mode": 2,
                "is_ignore_error": 1,
            },
        },
        StepDetail,
    )
    assert files.file is not None
    assert files.file.transfer_mode is TransferMode.FORCE
    assert [s.file_source_id for s in files.file.sources] == [None, 7]
    assert files.file.destination is not None
    assert files.file.destination.path == "/tmp"
    assert files.file.ignore_error is True
    assert files.file.upload_speed_limit == 10
    approval = v3({"id": 6, "type": 3, "approval_info": {"approval_message": "Pass"}}, StepDetail)
    assert approval.approval_message == "Pass"


def test_a_sensitive_parameter_is_masked_in_repr():
    detail = v3(
        {
            "id": 4,
            "type": 1,
            "script_info": {"script_param": "--token t0ps3cret", "is_param_sensitive": 1},
        },
        StepDetail,
    )
    assert "t0ps3cret" not in repr(detail)
    plain = v3(
        {"id": 4, "type": 1, "script_info": {"script_param": "-v", "is_param_sensitive": 0}},
        StepDetail,
    )
    assert "'-v'" in repr(plain)


def test_notify_policies_and_encryption_metadata():
    (policy,) = v3(
        [
            {
                "trigger_type": "API_INVOKE",
                "resource_type_list": ["SCRIPT", "JOB", "FILE"],
                "role_list": ["JOB_RESOURCE_TRIGGER_USER"],
                "extra_observer_list": [],
                "resource_status_channel_map": {"FAIL": {"mail": True, "sms": False, "rtx": True}},
            }
        ],
        tuple[NotifyPolicy, ...],
    )
    assert policy.enabled("FAIL") == ("mail", "rtx")
    assert policy.enabled("SUCCESS") == ()
    with pytest.raises(TypeError):
        policy.channels["FAIL"]["mail"] = False  # type: ignore[index]
    meta = v3({"public_key": "xxx", "encrypt_algorithm": "SM2"}, PasswordEncryption)
    assert meta.encrypt_algorithm == "SM2"


def test_upload_urls_mask_their_tokens():
    urls = v3(
        {
            "url_map": {
                "f.txt": {"upload_url": "http://r/x?token=t0ken-abc", "path": "1/u/admin/f.txt"}
            }
        },
        UploadUrls,
    )
    assert [u.path for u in urls] == ["1/u/admin/f.txt"]
    assert "t0ken-abc" not in repr(urls)


def test_accounts_of_each_generation():
    made = v3(
        {"id": 70, "account": "Admin", "alias": "Admin", "category": 1, "type": 2, "os": "Windows"},
        ExecutionAccount,
    )
    assert made.type is AccountType.WINDOWS
    assert made.category is AccountCategory.SYSTEM
    rows = structure(
        [
            {
                "db_account_id": 3,
                "db_alias": "reports",
                "account": "rpt",
                "create_time": "2024-01-01 00:00:00",
            },
            {"id": 4, "account": "root", "alias": "root", "create_time": "2024-01-01 00:00:00"},
        ],
        tuple[ExecutionAccount, ...],
        Generation.V2,
        SHANGHAI,
    )
    assert [(a.id, a.alias, a.category) for a in rows] == [
        (3, "reports", AccountCategory.DB),
        (4, "root", AccountCategory.SYSTEM),
    ]
    assert rows[0].create_time == dt.datetime(2024, 1, 1, tzinfo=UTC)  # formatted in UTC


@pytest.mark.parametrize(
    ("secret", "hidden"),
    [
        (CredentialSecret.for_password("pw-123456"), ["pw-123456"]),
        (CredentialSecret.for_username_password("admin", "pw-123456"), ["pw-123456"]),
        (CredentialSecret.for_secret_key("sk-123456"), ["sk-123456"]),
        (
            CredentialSecret.for_app_id_secret_key("ak-123456", "sk-654321"),
            ["ak-123456", "sk-654321"],
        ),
    ],
)
def test_credential_secrets_never_show(secret, hidden):
    for value in hidden:
        assert value not in repr(secret)
        assert value not in str(secret)
        assert value in secret.secrets()


def test_credential_secret_checks_its_fields():
    with pytest.raises(TypeError, match="password"):
        CredentialSecret(CredentialType.USERNAME_PASSWORD, username="u")
    with pytest.raises(ValueError, match="takes no username"):
        CredentialSecret(CredentialType.PASSWORD, password="p", username="u")
    with pytest.raises(TypeError):
        CredentialSecret("PASSWORD", password="p")  # type: ignore[arg-type]
    assert CredentialSecret.for_password(KEEP_SECRET).secrets() == ()
