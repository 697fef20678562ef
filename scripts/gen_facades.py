"""Write the facades' generated parts: ``bkjob_async/client.py`` and ``bkjob_async/sync.py``.

``python scripts/gen_facades.py`` (``make facades``) rewrites the marked regions of both files
and leaves every other line as it is (the hand-written methods: lifecycle, ``call``,
``as_user``, ``compat``, the paging iterators, ...):

- in ``client.py``, one ``async def`` for each row of the endpoint table
  (``bkjob_async._protocol``) whose method the class does not write by hand: its parameters
  those of the row's spellings (names, annotations, defaults; every filter a keyword of its
  own), its return what the row's reader answers, its docstring the row's ``doc``; it sends
  the row (``BkJobClient._run``), or for ``scope=None`` the row's ``public`` one; and for a
  row with a ``pager``, its paging iterator (``iter_crons``, ...);
- in ``sync.py``, the blocking twin of every public ``async def`` of ``client.BkJobClient``
  (generated or not, ``aclose`` aside): the same parameters and docstring, the same return (a
  paging method's items as a plain ``Iterator``);
- in each, the imports those methods need that the hand-written part does not have.

The output is what ``ruff`` leaves (imports sorted, code formatted): ``ruff`` is run on it.
``tests/unit/test_facades.py`` checks both files are current: a row, a spelling, a reader or a
hand-written ``async def`` that changes fails there until this is run again.
"""

from __future__ import annotations

import ast
import builtins
import enum
import functools
import importlib
import inspect
import pathlib
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIENT = ROOT / "bkjob_async" / "client.py"
SYNC = ROOT / "bkjob_async" / "sync.py"
PACKAGE = "bkjob_async"

#: The markers of a region, by what it holds; the lines between them are the generator's.
BEGIN = "# --- generated {what} (scripts/gen_facades.py, `make facades`): do not edit ---"
END = "# --- end of generated {what} ---"
#: The async methods without a blocking twin (the sync client's ``close`` is its own).
NO_TWIN = frozenset({"aclose"})


# --- regions -------------------------------------------------------------------------------------


def _region(text: str, what: str) -> tuple[int, int, str]:
    """Return where the region ``what`` of ``text`` starts and ends (its content's offsets),
    and its indentation."""
    begin = re.search(rf"^( *){re.escape(BEGIN.format(what=what))}\n", text, re.M)
    end = re.search(rf"^ *{re.escape(END.format(what=what))}\n", text, re.M)
    if begin is None or end is None or end.start() < begin.end():
        raise SystemExit(f"no region of generated {what} (its two marker lines)")
    return begin.end(), end.start(), begin.group(1)


def _spliced(text: str, regions: dict[str, str]) -> str:
    """Return ``text`` with each region's lines replaced by ``regions[what]``."""
    for what, lines in regions.items():
        start, end, _ = _region(text, what)
        text = text[:start] + lines + text[end:]
    return text


def _hand_written(text: str, *whats: str) -> str:
    """Return ``text`` with the regions ``whats`` emptied: the part the generator leaves alone."""
    return _spliced(text, dict.fromkeys(whats, ""))


# --- imports -------------------------------------------------------------------------------------


def _absolute(module: str | None, level: int, within: str) -> str:
    """Return the absolute name of ``from {'.' * level}{module} import`` in module ``within``."""
    if level == 0:
        return module or ""
    base = within.split(".")[:-level]
    return ".".join([*base, module] if module else base)


def _imports(tree: ast.Module, within: str) -> dict[str, tuple[str, str, bool]]:
    """Return each name ``tree`` imports (at its top or under ``TYPE_CHECKING``): its module
    (absolute, ``""`` for ``import x``), its name there, and whether it is imported at run time."""
    found: dict[str, tuple[str, str, bool]] = {}

    def add(statements: Iterable[ast.stmt], runtime: bool) -> None:
        for node in statements:
            if isinstance(node, ast.ImportFrom):
                module = _absolute(node.module, node.level, within)
                for alias in node.names:
                    found[alias.asname or alias.name] = (module, alias.name, runtime)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found[alias.asname or alias.name] = ("", alias.name, runtime)
            elif isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                add(node.body, False)

    add(tree.body, True)
    return found


def _defined(tree: ast.Module) -> set[str]:
    """Return the names a module defines at its top (classes, functions, assignments)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


@functools.cache
def _module_tree(module: str) -> ast.Module:
    path = importlib.import_module(module).__file__
    assert path is not None
    return ast.parse(pathlib.Path(path).read_text(encoding="utf-8"))


def _where(name: str, modules: Iterable[str]) -> tuple[str, str, bool] | None:
    """Return where the first of ``modules`` that knows ``name`` takes it from (see
    ``_imports``; a name it defines is taken from it)."""
    for module in modules:
        tree = _module_tree(module)
        known = _imports(tree, module)
        if name in known:
            return known[name]
        if name in _defined(tree):
            return (module, name, True)
    return None


def _names(expression: str | ast.expr) -> set[str]:
    """Return the names an annotation or a default reads (``_dt`` of ``_dt.datetime``)."""
    tree = ast.parse(expression, mode="eval") if isinstance(expression, str) else expression
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _import_lines(
    needed: dict[str, tuple[str, str, bool]], hand: dict[str, tuple[str, str, bool]], within: str
) -> str:
    """Return the import statements for ``needed`` (by name: module, name there, at run time)
    that ``hand`` (the hand-written part's imports) lacks, run-time ones first."""
    blocks: dict[bool, list[str]] = {True: [], False: []}
    for name, (module, original, runtime) in sorted(needed.items()):
        if name in hand:
            if runtime and not hand[name][2]:
                raise SystemExit(
                    f"{within}: {name} is read at run time by a generated method: import it "
                    "outside TYPE_CHECKING in the hand-written part, or leave its import to "
                    "the generator"
                )
            continue
        alias = "" if original == name else f" as {name}"
        if not module:
            blocks[runtime].append(f"import {original}{alias}")
            continue
        if module.startswith(PACKAGE + "."):
            package = within.rsplit(".", 1)[0]
            module = "." + module[len(package) + 1 :] if module.startswith(package) else module
        blocks[runtime].append(f"from {module} import {original}{alias}")
    lines = [f"{line}\n" for line in blocks[True]]
    if blocks[False]:
        lines += ["\n", "if TYPE_CHECKING:\n", *(f"    {line}\n" for line in blocks[False])]
    return "".join(lines)


# --- the async client ----------------------------------------------------------------------------


def _class(tree: ast.Module, name: str = "BkJobClient") -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise SystemExit(f"no class {name}")


def _methods(cls: ast.ClassDef) -> set[str]:
    """Return the names of the methods a class defines."""
    return {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _default(value: Any, runtime: set[str]) -> str:
    """Return a default value as source: a literal, or an enum member by its class (added to
    ``runtime``, the names the method reads when it is defined)."""
    if isinstance(value, enum.Enum):
        runtime.add(type(value).__name__)
        return f"{type(value).__name__}.{value.name}"
    if value is None or type(value) in (bool, int, float, str) or value == ():
        return repr(value)
    raise SystemExit(f"a default the generator cannot write: {value!r}")


def _docstring(doc: str, indent: str) -> str:
    """Return ``doc`` as a docstring literal whose lines are indented by ``indent``."""
    if '"""' in doc:
        raise SystemExit(f'a docstring with """ in it: {doc[:60]}...')
    lines = doc.replace("\\", "\\\\").splitlines()
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    rest = "".join(f"\n{indent}{line}" if line else "\n" for line in lines[1:])
    return f'"""{lines[0]}{rest}\n{indent}"""'


def _parameters(api: Any, needed: set[str], runtime: set[str]) -> list[tuple[str, str, Any]]:
    """Return the parameters of the method for the row ``api``, each as source (``name:
    annotation = default``), as an argument passing it on, and its kind; ``*`` and ``/``
    markers as ``("*", "", None)``. A row with a ``public`` row takes ``scope=None`` for it."""
    parameters = list(inspect.signature(api.signature).parameters.values())
    out: list[tuple[str, str, Any]] = []
    star = False
    for p in parameters:
        if not isinstance(p.annotation, str):
            raise SystemExit(f"{api.name}: the parameter {p.name} has no annotation")
        annotation = p.annotation
        if api.public and p.name == "scope":
            annotation = f"{annotation} | None"
        needed |= _names(annotation)
        text = f"{p.name}: {annotation}"
        if p.default is not p.empty:
            text += f" = {_default(p.default, runtime)}"
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append(("*", "", None))
            star = True
        if p.kind is p.VAR_POSITIONAL:
            text, star = "*" + text, True
        elif p.kind is p.VAR_KEYWORD:
            text = "**" + text
        arg = {p.KEYWORD_ONLY: f"{p.name}={p.name}", p.VAR_POSITIONAL: f"*{p.name}"}.get(
            p.kind, f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name
        )
        out.append((text, arg, p.kind))
        if p.kind is p.POSITIONAL_ONLY and p is parameters[-1]:
            out.append(("/", "", None))
    return out


def _const(family: Any, name: str) -> str:
    """Return the constant of ``family`` that holds the row named ``name``."""
    from bkjob_async._protocol import Api

    for const, value in vars(family).items():
        if isinstance(value, Api) and value.name == name and not const.startswith("_"):
            return const
    raise SystemExit(f"{family.__name__} has no row {name}")


def _row_method(family: Any, const: str, api: Any, needed: set[str], runtime: set[str]) -> str:
    """Return the client's ``async def`` for the row ``family.const`` (and its pager's)."""
    if not api.doc:
        raise SystemExit(f"{api.name}: its row has no doc= (the method's docstring)")
    read = next(iter(api.bindings.values())).read
    returns = inspect.signature(read).return_annotation
    if not isinstance(returns, str):
        raise SystemExit(f"{api.name}: its reader's return annotation is not a string")
    needed |= _names(returns)
    parameters = _parameters(api, needed, runtime)
    params = ["self", *(text for text, _, _ in parameters)]
    args = [arg for _, arg, _ in parameters if arg]
    short = family.__name__.rsplit(".", 1)[1]
    body = f"        return await self._run({', '.join([f'{short}.{const}', *args])})\n"
    if api.public:
        public = f"{short}.{_const(family, api.public)}"
        body = (
            "        if scope is None:\n"
            f"            return await self._run({', '.join([public, *args[1:]])})\n{body}"
        )
    method = (
        f"    async def {api.name}({', '.join(params)}) -> {returns}:\n"
        f"        {_docstring(api.doc, '        ')}\n{body}"
    )
    if api.pager is None:
        return method
    return method + "\n" + _pager(api, parameters, needed, runtime)


def _pager(
    api: Any, parameters: list[tuple[str, str, Any]], needed: set[str], runtime: set[str]
) -> str:
    """Return the client's paging iterator for the row ``api`` (its ``pager``): the row's
    parameters, ``page_size`` in place of ``start`` and ``length``."""
    pager = api.pager
    kept = [entry for entry in parameters if entry[1] not in ("start=start", "length=length")]
    if len(kept) != len(parameters) - 2:
        raise SystemExit(f"{api.name}: a pager's row takes start= and length=")
    params = ["self", *(t for t, _, _ in kept), f"page_size: int = {pager.page_size}"]
    args = [a for _, a, _ in kept if a] + ["start=start", "length=page_size"]
    item = pager.item.__name__
    needed |= {"AsyncIterator", item}
    runtime |= {"_paged"}
    key = " or ".join(f"item.{name}" for name in pager.key)
    cap = ""
    if pager.v4_cap is not None:
        runtime.add("ApiFlavor")
        cap = (
            "        if self.flavor is ApiFlavor.APIGW_V4 and isinstance(page_size, int):\n"
            f"            page_size = min(page_size, {pager.v4_cap})  # v4's cap on a page\n"
        )
    return (
        f"    async def {pager.method}({', '.join(params)}) -> AsyncIterator[{item}]:\n"
        f"        {_docstring(pager.doc, '        ')}\n{cap}"
        f"        async for item in _paged(\n"
        f"            lambda start: self.{api.name}({', '.join(args)}),\n"
        f"            lambda item: {key},\n"
        "        ):\n"
        "            yield item\n"
    )


def _rows() -> Iterator[tuple[Any, str, Any]]:
    """Yield each row of the table: its family module, its constant there, the row; the
    families in ``FAMILIES``' order, each's rows in the order it defines them."""
    from bkjob_async._protocol import FAMILIES, Api

    for family in FAMILIES:
        for const, value in vars(family).items():
            if isinstance(value, Api) and not const.startswith("_"):
                yield family, const, value


def render_client(text: str) -> str:
    """Return ``client.py`` (``text``) with its generated regions written from the table."""
    hand = _hand_written(text, "imports", "methods")
    tree = ast.parse(hand)
    written = _methods(_class(tree))
    defined = _defined(tree)
    methods: list[str] = []
    imports: dict[str, tuple[str, str, bool]] = {}
    family_name = None
    for family, const, api in _rows():
        if api.name in written:
            continue
        if family.__name__ != family_name:
            family_name = family.__name__
            short = family_name.rsplit(".", 1)[1]
            methods.append(f"    # --- {short} " + "-" * (89 - len(short)) + "\n\n")
            imports[short] = (family_name.rsplit(".", 1)[0], short, True)
        needed: set[str] = set()
        runtime: set[str] = set()
        methods.append(_row_method(family, const, api, needed, runtime) + "\n")
        spell = api.signature
        places = [
            family.__name__,
            getattr(spell, "func", spell).__module__,
            next(iter(api.bindings.values())).read.__module__,
            *([api.pager.item.__module__] if api.pager else []),
            f"{PACKAGE}.client",
        ]
        for name in (needed | runtime) - defined:
            if name in imports and (imports[name][2] or name not in runtime):
                continue
            where = _where(name, places)
            if where is None:
                if hasattr(builtins, name):
                    continue
                raise SystemExit(f"{api.name}: where does {name} come from?")
            imports[name] = (*where[:2], name in runtime)
    hand_imports = _imports(tree, f"{PACKAGE}.client")
    regions = {
        "imports": _import_lines(imports, hand_imports, f"{PACKAGE}.client"),
        "methods": "".join(methods).rstrip("\n") + "\n",
    }
    return _ruff(_spliced(text, regions), CLIENT)


# --- the sync client -----------------------------------------------------------------------------


def _yields(node: ast.AsyncFunctionDef) -> bool:
    """Whether ``node`` is an async generator (a ``yield`` of its own, not of a nested def)."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(current))
    return False


def _twin(node: ast.AsyncFunctionDef, source: str, needed: set[str], runtime: set[str]) -> str:
    """Return the blocking twin of the async client's method ``node``."""
    doc = node.body[0]
    if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)):
        raise SystemExit(f"BkJobClient.{node.name} has no docstring")
    arguments = node.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if arg.annotation is not None:
            needed |= _names(arg.annotation)
    for star in (arguments.vararg, arguments.kwarg):
        if star is not None and star.annotation is not None:
            needed |= _names(star.annotation)
    for default in [*arguments.defaults, *arguments.kw_defaults]:
        if default is not None:
            runtime |= _names(default)
    assert node.returns is not None, node.name
    returns = ast.unparse(node.returns)
    pages = _yields(node)
    if pages:
        returns = re.sub(r"^AsyncIterator\[", "Iterator[", returns)
        needed.add("Iterator")
    needed |= _names(returns) - {"Iterator"}
    args = [a.arg for a in [*arguments.posonlyargs, *arguments.args][1:]]
    if arguments.vararg is not None:
        args.append(f"*{arguments.vararg.arg}")
    args += [f"{a.arg}={a.arg}" for a in arguments.kwonlyargs]
    if arguments.kwarg is not None:
        args.append(f"**{arguments.kwarg.arg}")
    helper = "_pages" if pages else "_blocking"
    call = ", ".join([f"_client.BkJobClient.{node.name}", *args])
    return (
        f"    def {node.name}({ast.unparse(arguments)}) -> {returns}:\n"
        f"        {ast.get_source_segment(source, doc)}\n"
        f"        return self.{helper}({call})\n"
    )


def render_sync(client_text: str, text: str) -> str:
    """Return ``sync.py`` (``text``) with its generated regions: the blocking twins of the
    async client's methods (``client_text``, as generated)."""
    client_tree = ast.parse(client_text)
    hand = _hand_written(text, "imports", "methods")
    tree = ast.parse(hand)
    written = _methods(_class(tree))
    twins: list[str] = []
    needed: set[str] = set()
    runtime: set[str] = set()
    for node in _class(client_tree).body:
        if (
            isinstance(node, ast.AsyncFunctionDef)
            and not node.name.startswith("_")
            and node.name not in NO_TWIN | written
        ):
            twins.append(_twin(node, client_text, needed, runtime) + "\n")
    known = _imports(client_tree, f"{PACKAGE}.client")
    known.setdefault("Iterator", ("collections.abc", "Iterator", False))
    imports: dict[str, tuple[str, str, bool]] = {}
    for name in needed | runtime:
        if name not in known:
            if hasattr(builtins, name):
                continue
            raise SystemExit(f"sync: where does {name} come from (client.py does not import it)?")
        imports[name] = (*known[name][:2], name in runtime)
    regions = {
        "imports": _import_lines(imports, _imports(tree, f"{PACKAGE}.sync"), f"{PACKAGE}.sync"),
        "methods": "".join(twins).rstrip("\n") + "\n",
    }
    return _ruff(_spliced(text, regions), SYNC)


# --- output --------------------------------------------------------------------------------------


def _ruff(text: str, path: pathlib.Path) -> str:
    """Return ``text`` as ``ruff`` leaves it: its imports sorted, then formatted."""
    name = str(path.relative_to(ROOT))
    for command in (["check", "--select", "I", "--fix", "--exit-zero", "--quiet"], ["format"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", name, "-"],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"ruff {command[0]} failed on {name}:\n{done.stderr}")
        text = done.stdout
    return text


def render() -> dict[pathlib.Path, str]:
    """Return the text of both facades, their generated regions written from the table."""
    client = render_client(CLIENT.read_text(encoding="utf-8"))
    return {CLIENT: client, SYNC: render_sync(client, SYNC.read_text(encoding="utf-8"))}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    for path, text in render().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
