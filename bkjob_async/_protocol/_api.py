"""The endpoint table's row: one bk-job API, its binding per generation, and how to read its answer.

Pure data and small pure functions. A row (``Api``) names the API (bk-job's v3 name, the name
of the client's method), the gateway's HTTP method, whether it is a read (retried) or a write
(never retried once it may have reached bk-job), and one ``Binding`` per flavor that serves it:
the name there, the HTTP method there (the ESB takes GET with a query or POST with JSON from a
caller and forwards both as POST: a row sends POST there unless it says ``esb_method=GET``), the
spelling (a pure
function from the method's arguments to bk-job's parameters) and the answer's reader. The row
picks the spelling: a builder never asks which flavor it speaks. The family modules
(``jobs``, ``launches``, ``logs``, ``catalog``, ...) each hold a few rows; ``_table`` gathers
them.

A spelling checks what the caller passes and raises ``TypeError``/``ValueError`` before any
request exists. A reader gets the parser (``Protocol.parse``), the answer's ``data`` and the
parameters that were sent (bk-job's names), so it reads the same whether the request came from
a typed method or from ``BkJobClient.call``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import attrs

from ..config import ApiFlavor, Scope, check_id, check_scope
from ..errors import ResponseFormatError

__all__ = [
    "GET",
    "POST",
    "AnswerReader",
    "Api",
    "Batches",
    "Binding",
    "Pager",
    "Params",
    "Parse",
    "Scoped",
    "Secrets",
    "Spelling",
    "answering",
    "bound",
    "checked",
    "ids",
    "listed",
    "model",
    "nothing",
    "optional",
    "renamed",
    "row",
    "v2_scoped",
    "v3_scoped",
    "with_scope",
    "with_secrets",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
X = TypeVar("X")
A = TypeVar("A")
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")

GET = "GET"
POST = "POST"

#: bk-job's parameters for one request, by bk-job's names; ``None`` values are not sent.
Params = dict[str, Any]
#: Structure ``data`` into a class as the flavor's generation writes it (``Protocol.parse``).
Parse = Callable[[Any, type[X]], X]
#: A spelling: the client method's arguments in, bk-job's parameters out (or ``Batches``).
Spelling = Callable[..., "Params | Batches"]


class AnswerReader(typing.Protocol[T_co]):
    """Read an answer: ``parse``, the envelope's ``data``, and the parameters sent."""

    def __call__(self, parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T_co: ...


#: A spelling that takes the scope spelling of its generation (``v3_scoped``, ``v2_scoped``).
Scoped = Callable[..., Params]


class Secrets(dict[str, Any]):
    """Parameters that carry secrets (password variables): ``secrets`` are masked in errors."""

    secrets: tuple[str, ...] = ()


def with_secrets(params: Params, secrets: tuple[str, ...]) -> Params:
    """Return ``params`` marked as carrying ``secrets`` (the request masks them in its errors)."""
    if not secrets:
        return params
    marked = Secrets(params)
    marked.secrets = secrets
    return marked


class Batches(tuple[Params, ...]):
    """Several requests for one call (bk-job caps a batch): sent in order, answers concatenated.

    A call that needs none (an empty list of hosts) sends nothing and answers ``()``.
    """

    __slots__ = ()


@attrs.frozen
class Binding(Generic[T]):
    """How one flavor serves an API: its name and method there, its spelling, its reader."""

    name: str
    method: str
    spell: Spelling
    read: AnswerReader[T]
    #: Sent to the gateway's ``/api/v4/``, whose answers are HTTP statuses and ``{"data"}`` or
    #: ``{"error"}`` bodies (``_envelope``), not ``result``/``code`` envelopes.
    v4: bool = False


@attrs.frozen
class Pager:
    """A row's paging iterator: ``BkJobClient.<method>`` yields every item of the row's pages.

    Its parameters are the row's, ``page_size`` (``length``) in place of ``start`` and
    ``length``; an item seen on an earlier page is not yielded again.
    """

    #: The iterator's name (``iter_crons``).
    method: str
    #: What an item is (its class), and the attributes that tell one from another (the first
    #: one set).
    item: type
    key: tuple[str, ...]
    #: The iterator's docstring.
    doc: str
    page_size: int = 1000
    #: The most a page holds on ``apigw-v4``, whatever ``page_size`` (``None``: no cap).
    v4_cap: int | None = None


@attrs.frozen
class Api(Generic[P, T]):
    """One bk-job API: a row of the endpoint table (see the module docstring).

    ``P`` is its parameters: every spelling of the row takes them, and the client's method
    for it is made from them (``BkJobClient``); ``T`` is what its reader answers.
    """

    #: bk-job's name for it (its v3 name), and the client's method's.
    name: str
    #: The gateway's HTTP method (``resources.yaml``); another is a 404 there.
    method: str
    #: Safe to send again (a read), or never once it may have reached bk-job (a write).
    read: bool
    #: What each flavor that serves it sends; a flavor missing here lacks the API.
    bindings: Mapping[ApiFlavor, Binding[T]] = attrs.field(repr=False)
    #: The client method's docstring (``scripts/gen_facades.py`` writes the method with it).
    doc: str = attrs.field(default="", repr=False)
    #: bk-job's Java resources that serve it (the reference's table of every typed API).
    resource: str = attrs.field(default="", repr=False)
    #: The row that answers for the public library: the method takes ``scope=None`` for it.
    public: str = attrs.field(default="", repr=False)
    #: Its paging iterator (``None``: the row has none).
    pager: Pager | None = attrs.field(default=None, repr=False)

    def names(self) -> dict[ApiFlavor, str]:
        """Return its name on each flavor that serves it."""
        return {flavor: binding.name for flavor, binding in self.bindings.items()}

    @property
    def signature(self) -> Spelling:
        """Its first spelling: its parameters (every spelling takes the same) and answer."""
        return next(iter(self.bindings.values())).spell


def row(
    name: str,
    method: str,
    read: AnswerReader[T],
    *,
    v3: Callable[P, Params | Batches] | None = None,
    v2: Callable[P, Params | Batches] | None = None,
    v2_name: str | None = None,
    v2_read: AnswerReader[T] | None = None,
    v4: Callable[P, Params | Batches] | None = None,
    v4_read: AnswerReader[T] | None = None,
    gateway: bool = True,
    esb: bool = True,
    esb_method: str = POST,
    idempotent: bool | None = None,
    doc: str = "",
    resource: str = "",
    public: str = "",
    pager: Pager | None = None,
) -> Api[P, T]:
    """Return a row: ``v3`` spells it on the gateway (``gateway``) and the ESB's jobv3
    (``esb``), ``v2`` on the ESB v2 (named ``v2_name`` there, ``name`` by default), ``v4`` on
    the gateway's v4 (read by ``v4_read``; same name and method). On ``apigw-v4`` a row
    without ``v4`` is sent as the gateway's v3 (``Protocol.binding``). ``esb_method`` is the
    method of both ESB bindings: the ESB reads a GET's query or a POST's JSON alike and
    forwards either as POST with JSON (legacy-bk-paas ``esb/common/base_utils.py``
    ``get_request_params``, ``esb/components/component.py`` ``ConfComponent``); a status
    read sent again and again goes as GET, as the ESB v2 component suggests. ``doc`` is the client
    method's docstring, ``resource`` bk-job's Java resources that serve the API, ``public``
    the row the method sends for ``scope=None`` (the public library's), ``pager`` its paging
    iterator."""
    bindings: dict[ApiFlavor, Binding[T]] = {}
    if v3 is not None and gateway:
        bindings[ApiFlavor.APIGW_V3] = Binding(name, method, v3, read)
    if v3 is not None and esb:
        bindings[ApiFlavor.ESB_JOBV3] = Binding(name, esb_method, v3, read)
    if v2 is not None:
        bindings[ApiFlavor.ESB_V2] = Binding(v2_name or name, esb_method, v2, v2_read or read)
    if v4 is not None:
        bindings[ApiFlavor.APIGW_V4] = Binding(name, method, v4, v4_read or read, v4=True)
    read_only = method == GET if idempotent is None else idempotent
    cleaned = pager if pager is None else attrs.evolve(pager, doc=inspect.cleandoc(pager.doc))
    return Api(name, method, read_only, bindings, inspect.cleandoc(doc), resource, public, cleaned)


def bound(spell: Callable[Concatenate[A, P], X], how: A, /) -> Callable[P, X]:
    """Return ``spell`` with its first argument, ``how`` it spells (a generation, a scope
    spelling...), given: a spelling of the row's parameters."""
    return functools.partial(spell, how)


# --- one spelling for every generation: the key sets say what differs ---------------------------


def renamed(spell: Callable[P, Params], keys: str, /) -> Callable[P, Params]:
    """Return ``spell`` with the keys it sends renamed as ``keys`` says: one line of
    ``old=new`` (``old=``: not sent on this generation), each key kept in its place."""
    names = dict(pair.split("=") for pair in keys.split())

    def spelling(*args: P.args, **kwargs: P.kwargs) -> Params:
        params = spell(*args, **kwargs)
        return with_secrets(
            {names.get(k, k): v for k, v in params.items() if names.get(k, k)},
            getattr(params, "secrets", ()),
        )

    return _like(spelling, spell, inspect.signature(spell))


def with_scope(
    spell: Callable[P, Params], scoped: Scoped, keys: str = "", /
) -> Callable[Concatenate[Scope, P], Params]:
    """Return ``spell`` (the public library's, or fields without a scope) with a first
    argument, ``scope``, spelled by ``scoped`` (``v3_scoped``, ``v2_scoped``) before its keys,
    which are ``renamed`` as ``keys`` says: the spellings of one row that differ in their
    scope and key names only are one function and a line per generation."""
    inner = renamed(spell, keys) if keys else spell

    def spelling(scope: Scope, *args: P.args, **kwargs: P.kwargs) -> Params:
        fields = inner(*args, **kwargs)
        return with_secrets(scoped(scope, **fields), getattr(fields, "secrets", ()))

    signature = inspect.signature(spell)
    first = inspect.Parameter("scope", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Scope")
    spelled = signature.replace(parameters=[first, *signature.parameters.values()])
    # (``scope`` may come by name, as the method's signature allows: not positional-only)
    return typing.cast("Callable[Concatenate[Scope, P], Params]", _like(spelling, spell, spelled))


def ids(scoped: Scoped | None, /, **keys: str) -> Spelling:
    """Return the spelling of ids alone: ``key="argument"`` sends each ``int`` argument (checked
    by ``check_id``, in this order) as its key, after the scope ``scoped`` spells (``None``:
    no scope argument)."""
    parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [inspect.Parameter(name, parameter, annotation="int") for name in keys.values()],
        return_annotation="Params",
    )

    def spelling(*args: Any, **kwargs: Any) -> Params:
        given = signature.bind(*args, **kwargs).arguments
        return {key: check_id(given[name], name) for key, name in keys.items()}

    spelling.__signature__ = signature  # type: ignore[attr-defined]
    spelling.__doc__ = f"Spell the ids {', '.join(keys.values())}." if keys else "Spell nothing."
    spelling.__name__ = spelling.__qualname__ = (
        f"ids({', '.join(f'{k}={v}' for k, v in keys.items())})"
    )
    return spelling if scoped is None else with_scope(spelling, scoped)


def _like(spelling: F, spell: Callable[..., Any], signature: inspect.Signature) -> F:
    spelling.__signature__ = signature  # type: ignore[attr-defined]
    for name in ("__doc__", "__module__", "__name__", "__qualname__"):
        setattr(spelling, name, getattr(spell, name))
    return spelling


def v3_scoped(scope: Scope, **params: Any) -> Params:
    """Return ``params`` with ``scope`` as v3 spells it (``bk_scope_type``, ``bk_scope_id``)."""
    return {**check_scope(scope).params(ApiFlavor.ESB_JOBV3), **params}


def v2_scoped(scope: Scope, **params: Any) -> Params:
    """Return ``params`` with ``scope`` as v2 spells it (``bk_biz_id``; no business sets)."""
    return {**check_scope(scope).params(ApiFlavor.ESB_V2), **params}


# --- readers -----------------------------------------------------------------------------------


def model(cls: type[T]) -> AnswerReader[T]:
    """Read the answer as a ``cls``."""

    def read(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T:
        return parse(data, cls)  # type: ignore[no-any-return]

    return answering(read, cls.__name__)


def optional(cls: type[T]) -> AnswerReader[T | None]:
    """Read the answer as a ``cls``, or ``None`` when bk-job answers ``null`` data."""

    def read(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T | None:
        return None if data is None else parse(data, cls)

    return answering(read, f"{cls.__name__} | None")


def nothing(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> None:
    """Read no answer (an operation's echo of its ids)."""
    return None


def checked(cls: type[T], kind: str, key: str, answered: Callable[[T], int]) -> AnswerReader[T]:
    """Read a ``cls`` and refuse it if it is about another ``kind`` than the ``key`` sent."""

    def read(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T:
        answer: T = parse(data, cls)
        asked = sent.get(key)
        if asked is not None and answered(answer) != int(asked):
            raise ResponseFormatError(
                f"asked for {kind} {asked}, the server answered about {kind} {answered(answer)}"
            )
        return answer

    return answering(read, cls.__name__)


def listed(
    page: Callable[..., T],
    item: type,
    length: int | None,
    /,
    *,
    nulls: bool = False,
) -> AnswerReader[T]:
    """Read v2's bare list as a ``page`` of ``item``: with the ``start`` and ``length`` sent
    (``length`` when none was) and no total, or (``length=None``) as the whole list, one page.
    ``nulls``: ``null`` data is no item, and so is a ``null`` row (a lookup of a missing id)."""

    def read(parse: Parse[Any], data: Any, sent: Mapping[str, Any], /) -> T:
        if nulls:
            data = data or []
            data = [row for row in data if row is not None] if isinstance(data, list) else data
        items: tuple[Any, ...] = parse(data, tuple[item, ...])  # type: ignore[valid-type]
        if length is None:
            return page(0, len(items), len(items), items)
        return page(int(sent.get("start", 0)), int(sent.get("length", length)), None, items)

    return answering(read, getattr(page, "__name__", "page"))


def answering(read: F, answer: str) -> F:
    """Return ``read``, its return annotation the class it reads (the method's, in the docs)."""
    read.__annotations__["return"] = answer
    return read
