"""bk-job's texts for the script library's refusals, and how bk-job decodes a script; data only.

The codes' texts are ``message*.properties``; the validation keys' texts
``ValidationMessages*.properties`` (a failed bean validation is 1240003 with its text, as
``EsbExceptionControllerAdvice`` answers).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING

from . import _codes as codes
from ._api import ApiFailure, Call

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SCRIPT_MESSAGES", "decode", "fail"]

#: bk-job's texts (``message*.properties``, ``ValidationMessages*.properties``): zh, en.
SCRIPT_MESSAGES: dict[int | str, tuple[str, str]] = {
    1241003: ("不支持的操作", "Unsupported operation"),
    1243001: ("脚本不存在", "Script not exist"),
    1243002: ("脚本名称已存在，请重新输入", "Script name already exists"),
    1243004: ("脚本不属于该业务", "Script is not under this business"),
    1243036: ("脚本版本已存在", "Script version already exist"),
    1244018: ("脚本状态[{0}]，不支持执行", "Script status [{0}], cannot be executed"),
    1244019: ("高危脚本，禁止执行", "Dangerous script, cannot be executed"),
    "ScriptName_empty": ("脚本名称不能为空", "Script name cannot be empty"),
    "ScriptName_outOfLength": (
        "脚本名称不能超过60个字符",
        "Script name can not exceed  60 characters",
    ),
    "ScriptName_illegal": ("脚本名称非法", "Illegal Script name"),
    "ScriptType_empty": ("脚本类型不能为空", "script type cannot be empty"),
    "ScriptType_illegal": ("脚本类型非法", "Illegal script type"),
    "ScriptContent_empty": ("脚本内容不能为空", "Script content cannot be empty"),
    "ScriptVersion_empty": ("脚本版本不能为空", "Script version cannot be empty"),
    "ScriptVersion_outOfLength": (
        "脚本版本不能超过60个字符",
        "Script version name can not exceed  60 characters",
    ),
    "ScriptVersion_illegal": ("脚本版本非法", "Illegal script version"),
    "ScriptVersionId_empty": ("脚本版本ID不能为空", "Script version id cannot be empty"),
    "ScriptId_empty": ("脚本ID不能为空", "Script id cannot be empty"),
}


def fail(
    call: Call,
    code: int | str,
    *args: object,
    texts: Mapping[int | str, tuple[str, str]] = SCRIPT_MESSAGES,
) -> ApiFailure:
    """Return bk-job's refusal: a code with its text in ``texts``, or (a validation key)
    1240003."""
    text = codes.localized(texts[code], call.english, *args)
    return ApiFailure(code if isinstance(code, int) else codes.BAD_REQUEST, message=text)


def decode(value: str | None) -> str | None:
    """Decode base64 as commons-codec does: leniently, ``None`` for empty (``Base64Util``)."""
    if not value:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", value.replace("-", "+").replace("_", "/"))
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else None]
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4)).decode("utf-8", "replace")
