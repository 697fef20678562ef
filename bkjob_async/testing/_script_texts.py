"""The refusals of the script library and the dangerous rules, and decoding a script; pure.

The texts are ``_codes``'s: the codes' as ``message*.properties`` spells them, the validation
keys' as ``ValidationMessages*.properties`` does (a failed bean validation is 1240003 with its
text, as ``EsbExceptionControllerAdvice`` answers).
"""

from __future__ import annotations

import base64
import re

from . import _codes as codes
from ._api import ApiFailure, Call

__all__ = ["decode", "fail"]


def fail(call: Call, key: int | str, *args: object) -> ApiFailure:
    """Return bk-job's refusal: a code (its text is ``_codes``'s), or a failed bean validation,
    1240003 with the text of its key (``codes.VALIDATION``)."""
    if isinstance(key, int):
        return ApiFailure(key, *args)
    text = codes.localized(codes.VALIDATION[key], call.english, *args)
    return ApiFailure(codes.BAD_REQUEST, message=text)


def decode(value: str | None) -> str | None:
    """Decode base64 as commons-codec does: leniently, ``None`` for empty (``Base64Util``)."""
    if not value:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", value.replace("-", "+").replace("_", "/"))
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4 if len(cleaned) % 4 == 1 else None]
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4)).decode("utf-8", "replace")
