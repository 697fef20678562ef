"""The simulator's table of field checks: bk-job's field names only, each row served, each
refusal the code (or the bean validation's text) its row says, a page read as its row says."""

from __future__ import annotations

from typing import Any

import pytest

from bkjob_async.config import ApiFlavor
from bkjob_async.testing import _codes as codes
from bkjob_async.testing._api import ApiFailure, Call, Params
from bkjob_async.testing._api_catalog import V2_ENDPOINTS, V3_ENDPOINTS, V4_ENDPOINTS
from bkjob_async.testing._field_checks import (
    CHECKS,
    Check,
    Field,
    Items,
    OneOf,
    Page,
    Text,
    unknown_fields,
)

FLAVORS = {"v2": ApiFlavor.ESB_V2, "v3": ApiFlavor.ESB_JOBV3, "v4": ApiFlavor.APIGW_V4}


def call(generation: str, api: str, values: dict[str, Any], *, strict: bool = False) -> Call:
    return Call(FLAVORS[generation], api, Params(values, strict=strict), True, "admin")


def refusal(generation: str, api: str, values: dict[str, Any], **kw: bool) -> ApiFailure:
    with pytest.raises(ApiFailure) as caught:
        call(generation, api, values, **kw).checked()
    return caught.value


def test_every_field_is_one_bk_jobs_request_of_that_generation_has() -> None:
    assert unknown_fields(CHECKS) == {}
    # the client's v2 spelling on v3 (and v3's on v2) is not a field there: the table says so
    spelled = {
        ("v3", "update_cron_status"): (Check("cron_id", codes.ILLEGAL_PARAM),),
        ("v2", "update_cron_status"): (Check("id", codes.ILLEGAL_PARAM),),
        ("v3", "no_such_api"): (Check("id", codes.ILLEGAL_PARAM),),
    }
    assert unknown_fields(spelled) == {
        "v3 update_cron_status": ["cron_id"],
        "v2 update_cron_status": ["id"],
        "v3 no_such_api": ["id"],
    }


def test_every_row_is_an_api_the_simulator_serves() -> None:
    served = {"v2": V2_ENDPOINTS, "v3": V3_ENDPOINTS, "v4": V4_ENDPOINTS}
    assert [key for key in CHECKS if key[1] not in served[key[0]]] == []


def _good(check: Field) -> dict[str, Any]:
    """A value of each of ``check``'s fields that it takes."""
    if isinstance(check, Page):
        return {check.start: 0, "length": check.default}
    if isinstance(check, Text):  # ("YQ==": base64 too)
        return {check.field: next(v for v in ("a", "YQ==") if not check.takes or check.takes(v))}
    if isinstance(check, Items):
        return {check.field: [1]}
    if isinstance(check, OneOf):
        return {check.fields[0]: 1}
    return {check.field: next(v for v in range(1, 99) if check.takes(v))}


def _sent(row: tuple[Field, ...]) -> dict[str, Any]:
    """A good value of each field of ``row`` (a one-of's first field, unless a check has it)."""
    ones = [c for c in row if isinstance(c, OneOf)]
    return {k: v for c in (*ones, *(c for c in row if c not in ones)) for k, v in _good(c).items()}


def _read(row: tuple[Field, ...]) -> list[str]:
    """The field each value ``checked()`` returns for ``row`` comes from, in order."""
    return [
        f
        for c in row
        if not isinstance(c, OneOf)
        for f in (c.fields if isinstance(c, Page) else (c.field,))
    ]


def _answer(failure: ApiFailure) -> tuple[int, tuple[object, ...], str]:
    return failure.code, failure.args_, failure.text(True)


def _refused(refusal: int | str, args: tuple[object, ...]) -> tuple[int, tuple[object, ...], str]:
    """What a refusal answers: its code with ``args``, or 1240003 with its key's text."""
    if isinstance(refusal, str):
        return _answer(ApiFailure.invalid(refusal, True, *args))
    return _answer(ApiFailure(refusal, *args))


ROWS = sorted(CHECKS)
NUMBERS = [(g, a, c) for g, a in ROWS for c in CHECKS[g, a] if isinstance(c, Check)]
TEXTS = [(g, a, c) for g, a in ROWS for c in CHECKS[g, a] if isinstance(c, Text)]
PAGES = [(g, a, c) for g, a in ROWS for c in CHECKS[g, a] if isinstance(c, Page)]
LISTS = [(g, a, c) for g, a in ROWS for c in CHECKS[g, a] if isinstance(c, Items)]


@pytest.mark.parametrize(("generation", "api"), ROWS)
def test_a_row_takes_a_good_value_of_each_field(generation: str, api: str) -> None:
    row = CHECKS[generation, api]
    good = _sent(row)
    assert call(generation, api, good).checked() == tuple(good[f] for f in _read(row))


@pytest.mark.parametrize(("generation", "api", "check"), NUMBERS)
def test_each_number_refuses_what_its_row_refuses(generation: str, api: str, check: Check) -> None:
    good = _sent(CHECKS[generation, api])
    for value in (None, 0, -1, 10_000):
        sent = {**good, check.field: value}
        taken = check.optional if value is None else check.takes(value)
        if check.when is not None and not taken:  # (checked only beside its text)
            alone = {k: v for k, v in sent.items() if k != check.when}
            assert value in call(generation, api, alone).checked()
        if taken:  # (a status of 0 is a status)
            assert value in call(generation, api, sent).checked()
        elif value is None and check.validation:
            failure = refusal(generation, api, sent)
            assert _answer(failure) == _refused(check.validation, ())
        else:
            assert _answer(refusal(generation, api, sent)) == _refused(check.code, check.args)


@pytest.mark.parametrize(("generation", "api", "check"), TEXTS)
def test_each_text_refuses_what_its_row_refuses(generation: str, api: str, check: Text) -> None:
    good = _sent(CHECKS[generation, api])
    at = _read(CHECKS[generation, api]).index(check.field)

    def answer(value: str | None) -> object:
        """The value read (``("read", value)``), or the refusal's answer."""
        sent = {k: v for k, v in {**good, check.field: value}.items() if v is not None}
        try:
            return ("read", call(generation, api, sent).checked()[at])
        except ApiFailure as failure:
            return _answer(failure)

    empty = _refused(check.empty, check.args)
    if check.optional:
        assert answer(None) == ("read", None)
        assert answer("") == ("read", None if check.strip else "")
    else:
        assert answer(None) == answer("") == empty
    if check.blank:
        assert answer("  ") == empty
    elif check.strip:
        assert answer("  ") == ("read", None)
        assert answer(" a ") == ("read", "a")
    if check.most is not None and check.long is not None:
        assert answer("a" * check.most) == ("read", "a" * check.most)
        assert answer("a" * (check.most + 1)) == _refused(check.long, check.args)
    if check.takes is not None and check.illegal is not None:
        # (a name with a slash, a version with a space, a regular expression left open)
        illegal = next(v for v in ("a/b", "a b", "(") if not check.takes(v))
        assert answer(illegal) == _refused(check.illegal, check.args)


@pytest.mark.parametrize(("generation", "api", "check"), LISTS)
def test_each_list_refuses_what_its_row_refuses(generation: str, api: str, check: Items) -> None:
    good = _sent(CHECKS[generation, api])
    at = _read(CHECKS[generation, api]).index(check.field)
    assert call(generation, api, good).checked()[at] == [1]
    for value in (None, [], "1", 1):
        sent = {k: v for k, v in {**good, check.field: value}.items() if v is not None}
        assert _answer(refusal(generation, api, sent)) == _refused(check.empty, check.args)


ONE_OF = [(g, a, c) for g, a in ROWS for c in CHECKS[g, a] if isinstance(c, OneOf)]


@pytest.mark.parametrize(("generation", "api", "check"), ONE_OF)
def test_one_of_its_fields_is_enough_and_none_is_refused(
    generation: str, api: str, check: OneOf
) -> None:
    good = _sent(CHECKS[generation, api])
    rest = {k: v for k, v in good.items() if k not in check.fields}
    for absent in ({}, dict.fromkeys(check.fields, "")):
        failure = refusal(generation, api, {**rest, **absent})
        assert _answer(failure) == _refused(check.refusal, check.args)
    for field in check.fields:
        call(generation, api, {**rest, field: good.get(field, 1)}).checked()


@pytest.mark.parametrize(("generation", "api", "page"), PAGES)
def test_a_page_is_read_as_its_row_says(generation: str, api: str, page: Page) -> None:
    good = _sent(CHECKS[generation, api])

    def read(start: object, length: object) -> object:
        """The start and length read, or the refusal's answer."""
        sent = {**good, page.start: start, "length": length}
        try:
            return call(
                generation, api, {k: v for k, v in sent.items() if v is not None}
            ).checked()[-2:]
        except ApiFailure as failure:
            return _answer(failure)

    assert read(None, None) == (0, page.default)
    assert read(3, page.least) == (3, page.least)
    if page.most is not None:
        assert read(0, page.most) == (0, page.most)
    for start, length in (("x", 1), (1, "x")):
        assert read(start, length)[:2] == (codes.BAD_REQUEST, ())
    if page.refusal is None:
        assert read(-1, page.least - 1) == (0, page.default)
        assert read(0, 10_000) == (0, 10_000 if page.most is None else page.most)
        return
    assert read(-1, 1) == _answer(ApiFailure(page.refusal, page.start))
    if page.max_start is not None:
        assert read(page.max_start, 1) == (page.max_start, 1)
        assert read(page.max_start + 1, 1) == _answer(ApiFailure(page.refusal, page.start))
    assert read(0, page.least - 1) == _answer(ApiFailure(page.refusal, "length"))
    if page.most is not None:
        assert read(0, page.most + 1) == _answer(ApiFailure(page.refusal, "length"))


def test_a_bound_field_missing_on_a_gateway_get_is_springs_1240003() -> None:
    failure = refusal("v3", "get_job_instance_status", {}, strict=True)
    assert (failure.code, failure.args_) == (codes.BAD_REQUEST, ())
    failure = refusal("v3", "get_job_instance_status", {})
    assert (failure.code, failure.args_) == (codes.MISSING_OR_ILLEGAL_NAMED, ("job_instance_id",))
    # an unbound field is the resource's refusal either way
    failure = refusal("v3", "operate_job_instance", {"operation_code": 1}, strict=True)
    assert failure.code == codes.ILLEGAL_PARAM


def test_codes_and_statuses_outside_a_rows_values_are_refused_in_bk_jobs_order() -> None:
    refused = refusal("v3", "operate_job_instance", {"job_instance_id": 5, "operation_code": 3})
    assert refused.code == codes.ILLEGAL_PARAM
    refused = refusal("v2", "update_cron_status", {"cron_id": 5, "cron_status": 3})
    assert refused.code == codes.ILLEGAL_PARAM
    # v3 checks the id before the status
    refused = refusal("v3", "update_cron_status", {"id": 0, "status": -1})
    assert refused.args_ == ("id", "id must be a positive integer")
    refused = refusal("v3", "update_cron_status", {"id": 3, "status": -1})
    assert refused.args_ == ("status", "status must >= 0")
    assert call("v3", "update_cron_status", {"id": 3, "status": 0}).checked() == (3, 0)
