"""The API reference, generated from the public modules' ``__all__`` (never written by hand).

A public module is one of ``bkjob_async``'s modules whose dotted path has no part starting with
``_`` and which lists its public names in ``__all__``. At each build this extension

- writes ``reference/api/<module>.md`` for each of them (gitignored), whose ``bkjob-module``
  directive documents, with autodoc, every name of its ``__all__`` that is documented nowhere
  before it (a name exported by several modules is documented once, in the most specific
  module, and the others link there);
- warns, so that the strict build fails, for a public name, or a public method or property of
  a public class, that has no docstring;
- resolves a cross-reference to any path an object is reachable by (``bkjob_async.Poller``,
  ``bkjob_async.polling.poller.Poller``) to the one place it is documented.

``bkjob-defaults CLASS`` renders the fields of an attrs configuration class with their defaults.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import types
from typing import TYPE_CHECKING, Any

import attrs
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

if TYPE_CHECKING:
    from sphinx.application import Sphinx

PACKAGE = "bkjob_async"
OUT = pathlib.PurePosixPath("reference") / "api"
logger = logging.getLogger(__name__)


def public_modules() -> list[str]:
    """Return the public modules: specific ones first (depth 1, then 2...), the package last."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        parts = info.name.split(".")[1:]
        if any(part.startswith("_") for part in parts):
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            names.append(info.name)
    return sorted(names, key=lambda name: (name == PACKAGE, name.count("."), name))


def exported(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [name for name in module.__all__ if not (name.startswith("__") and name.endswith("__"))]


def canonical_names() -> dict[int, str]:
    """Map each public object (by identity) to the one dotted name it is documented under."""
    where: dict[int, str] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in exported(module_name):
            value = getattr(module, name)
            if isinstance(value, (str, int, float, types.ModuleType)):
                continue  # equal constants may share one object: not the same name
            if id(value) not in where:
                where[id(value)] = f"{module_name}.{name}"
    return where


def data_doc(module_name: str, name: str) -> str | None:
    """Return the ``#:`` comment of module data, from the module or where it comes from."""
    module = importlib.import_module(module_name)
    candidates = [module_name]
    value = getattr(module, name)
    for other in public_modules() + sorted(_all_modules()):
        if other != module_name and getattr(importlib.import_module(other), name, None) is value:
            candidates.append(other)
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # a compiled or unreadable module: try the next
            continue
        if ("", name) in docs:
            return "\n".join(docs["", name])
    return None


@functools.cache  # (the package's modules do not change during a build: looked up per reference)
def _all_modules() -> frozenset[str]:
    package = importlib.import_module(PACKAGE)
    return frozenset(info.name for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."))


def undocumented() -> list[str]:
    """Return every public name (and public method or property) with no docstring."""
    missing: list[str] = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in exported(module_name):
            value = getattr(module, name)
            path = f"{module_name}.{name}"
            if inspect.isclass(value) or inspect.isfunction(value):
                if not inspect.getdoc(value) or (inspect.isclass(value) and value.__doc__ is None):
                    missing.append(path)
                if inspect.isclass(value):
                    missing += _undocumented_members(value, path)
            elif not isinstance(value, types.ModuleType) and data_doc(module_name, name) is None:
                missing.append(f"{path} (data: document it with a `#:` comment above it)")
    return sorted(set(missing))


def _undocumented_members(cls: type, path: str) -> list[str]:
    missing = []
    for attr, member in vars(cls).items():
        if attr.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if isinstance(function, (staticmethod, classmethod)):
            function = function.__func__
        if inspect.isfunction(function) and not inspect.getdoc(function):
            missing.append(f"{path}.{attr}")
    return missing


def module_page(module_name: str) -> str:
    title = f"`{module_name}`"
    return (
        f"<!-- generated by docs/_ext/apiref.py from {module_name}.__all__: do not edit -->\n"
        f"# {title}\n\n```{{eval-rst}}\n.. bkjob-module:: {module_name}\n```\n"
    )


def write_pages(app: Sphinx) -> None:
    """Write one page per public module (only when its text changed), and check docstrings."""
    out = pathlib.Path(app.srcdir) / OUT
    out.mkdir(parents=True, exist_ok=True)
    wanted = {f"{name}.md": module_page(name) for name in public_modules()}
    for stale in out.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    for filename, text in wanted.items():
        path = out / filename
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            # (whole or not at all: builds of two languages at once read each other's pages)
            temporary = path.with_name(f".{filename}.{os.getpid()}")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(path)
    for name in undocumented():
        logger.warning(
            "public name without a docstring: %s (every name in a public module's __all__, "
            "and every public method and property of its classes, needs one)",
            name,
            type="bkjob",
            subtype="docstring",
        )


class ModuleDirective(SphinxDirective):
    """``bkjob-module MODULE``: document every name of ``MODULE.__all__`` once."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        where = canonical_names()
        lines = [f".. automodule:: {module_name}", "   :no-members:", ""]
        elsewhere: list[str] = []
        for name in exported(module_name):
            value = getattr(module, name)
            path = f"{module_name}.{name}"
            if isinstance(value, types.ModuleType):
                elsewhere.append(f"* :py:mod:`{value.__name__}`")
            elif id(value) in where and where[id(value)] != path:
                elsewhere.append(f"* :py:obj:`{name} <{where[id(value)]}>`")
            elif inspect.isclass(value):
                lines += [f".. autoclass:: {path}", "   :members:"]
                if issubclass(value, int) and hasattr(value, "__members__"):
                    lines.append("   :undoc-members:")
                lines.append("")
            elif inspect.isfunction(value):
                lines += [f".. autofunction:: {path}", ""]
            else:
                lines += [f".. autodata:: {path}", "   :no-value:", ""]
        if elsewhere:
            lines += [
                ".. rubric:: Also exported here, documented where they are defined",
                "",
                *elsewhere,
                "",
            ]
        return _parsed(self, lines, module_name)


class DefaultsDirective(SphinxDirective):
    """``bkjob-defaults PATH``: a table of a configuration object's arguments and defaults.

    PATH is an attrs class (its fields) or any class or function (its arguments). Each row
    says what the docstring's ``:param name:`` says (up to the next field or blank line: a
    paragraph after it is the class's, not the row's), or else the argument's type.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        value = _lookup(path)
        if value is None:
            raise self.error(f"bkjob-defaults: nothing is called {path}")
        rows = ["   * - argument", "     - default", "     - what it is"]
        described = {
            name: " ".join(text.split())
            for name, text in re.findall(
                r":param (\w+):(.*?)(?=\n\s*:\w|\n\s*\n|\Z)", inspect.getdoc(value) or "", re.DOTALL
            )
        }
        for name, default, annotation in _arguments(value):
            what = described.get(name) or f"``{annotation}``"
            rows += [f"   * - ``{name}``", f"     - {_default(default)}", f"     - {what}"]
        lines = [
            f".. list-table:: :py:obj:`{path}`",
            "   :header-rows: 1",
            "   :widths: 20 20 60",
            "",
            *rows,
            "",
        ]
        return _parsed(self, lines, path)


def _parsed(directive: SphinxDirective, lines: list[str], source: str) -> list[nodes.Node]:
    """Parse reStructuredText ``lines`` (sections allowed) in ``directive``'s place."""
    container = nodes.container()
    nested_parse_with_titles(directive.state, StringList(lines, source=source), container)
    return container.children


def _arguments(value: Any) -> list[tuple[str, Any, str]]:
    if attrs.has(value):
        return [
            (field.alias or field.name, field.default, _type_text(field.type))
            for field in attrs.fields(value)
            if field.init and not field.name.startswith("_")
        ]
    found = []
    for parameter in inspect.signature(value).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in ("self", "cls"):
            continue
        default = attrs.NOTHING if parameter.default is parameter.empty else parameter.default
        annotation = "" if parameter.annotation is parameter.empty else parameter.annotation
        found.append((parameter.name, default, _type_text(annotation)))
    return found


def _default(default: Any) -> str:
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory = default.factory
        return f"``{getattr(factory, '__name__', repr(factory))}()``"
    return f"``{default!r}``"


def _type_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


def resolve_anywhere(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a reference to a public object by any path it is reachable by.

    A reference that names a real object which is not public (a type variable, or a private
    type in a public signature) is shown as text, as a type of another package is; one that
    names nothing stays unresolved, and the strict build fails on it.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    value = _lookup(target) if target.startswith(PACKAGE + ".") else _in_context(node, target)
    if value is None:
        return None
    canonical = canonical_names().get(id(value))
    if canonical is None:
        return contnode
    if canonical == target:
        return None
    domain = env.get_domain("py")
    refdoc = node.get("refdoc", "")
    return domain.resolve_xref(
        env, refdoc, app.builder, node["reftype"], canonical, node, contnode
    ) or domain.resolve_xref(env, refdoc, app.builder, "obj", canonical, node, contnode)


def _in_context(node: Any, target: str) -> Any:
    """Look a short name up where it was written: the documented class's own module."""
    module = node.get("py:module")
    if not module or "." in target:
        return None
    modules = [module]
    owner = _lookup(f"{module}.{node.get('py:class')}") if node.get("py:class") else None
    if owner is not None and getattr(owner, "__module__", None):
        modules.insert(0, owner.__module__)
    for name in modules:
        value = getattr(importlib.import_module(name), target, None)
        if value is not None:
            return value
    # A function's signature does not say where the function comes from: take the name if
    # the package has exactly one object by it.
    found = {
        id(value): value
        for name in _all_modules()
        if (value := getattr(importlib.import_module(name), target, None)) is not None
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _lookup(dotted: str) -> Any:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value
    return None


def evaluate_type_checking_imports() -> None:
    """Add each module's ``if TYPE_CHECKING:`` imports to its namespace (in this build only).

    With them, autodoc evaluates the string annotations (``from __future__ import
    annotations``) into the objects they name and shows full, linked paths; without them, it
    falls back to bare names that resolve to nothing or to several objects.
    """
    for module_name in sorted(_all_modules() | {PACKAGE}):
        module = importlib.import_module(module_name)
        try:
            tree = ast.parse(inspect.getsource(module))
        except (OSError, TypeError):
            continue
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                found: dict[str, Any] = {"__name__": module_name, "__package__": module.__package__}
                found.update(module.__dict__)
                for statement in node.body:  # imports and type aliases, one at a time
                    tree_of_one = ast.Module(body=[statement], type_ignores=[])
                    try:
                        exec(compile(tree_of_one, module_name, "exec"), found)
                    except Exception:  # needs what this build cannot have: left out
                        continue
                for name, value in found.items():
                    module.__dict__.setdefault(name, value)


def shown_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """Show a private attrs base of a class as what it derives from: it only holds fields,
    which the class's signature lists, and has no page of its own to link to."""
    bases[:] = [
        shown
        for base in bases
        for shown in (
            base.__bases__ if attrs.has(base) and base.__name__.startswith("_") else (base,)
        )
    ]


def setup(app: Sphinx) -> dict[str, Any]:
    evaluate_type_checking_imports()
    app.connect("builder-inited", write_pages)
    app.connect("missing-reference", resolve_anywhere)
    app.connect("autodoc-process-bases", shown_bases)
    app.add_directive("bkjob-module", ModuleDirective)
    app.add_directive("bkjob-defaults", DefaultsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
