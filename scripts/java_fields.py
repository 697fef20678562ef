"""Derive the JSON keys bk-job's Java response classes declare, nested, from a bk-job checkout.

Usage: ``python scripts/java_fields.py GIT_DIR CLASS... > tests/unit/java/NAME.json``, or
``python scripts/java_fields.py --requests GIT_DIR < _fields.py > new`` to write the request
fields every API reads (``requests``) into ``bkjob_async/testing/_fields.py``.
(``GIT_DIR`` a bk-job clone's git directory; read at ``HEAD``). Each class is written as
``{"extends": ..., "fields": {json_key: [java_type, nested_class_or_null]}}``, with every class a field
names (a ``List<X>`` names ``X``) that the checkout defines; a field's key is its
``@JsonProperty`` or, without one, its name (Jackson's default); ``@JsonIgnore`` fields are left
out. Tests read the file; they never need the checkout.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

_FIELD = re.compile(r"\bprivate\s+(?:final\s+)?([\w<>, ?]+?)\s+(\w+)\s*(?:=[^;]*)?;")
_PROPERTY = re.compile(r'@JsonProperty\(\s*(?:value\s*=\s*)?"([^"]+)"')
_EXTENDS = re.compile(r"\bclass\s+\w+(?:<[^>]*>)?\s+extends\s+(\w+)")


def _files(git_dir: str) -> dict[str, str]:
    names = subprocess.run(
        ["git", "-C", git_dir, "ls-tree", "-r", "--name-only", "HEAD", "--", "src/backend"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {n.rsplit("/", 1)[1][:-5]: n for n in names if n.endswith(".java") and "/test/" not in n}


def _source(git_dir: str, path: str) -> str:
    show = ["git", "-C", git_dir, "show", f"HEAD:{path}"]
    return subprocess.run(show, check=True, capture_output=True, text=True).stdout


def _element(java_type: str) -> str:
    inner = re.search(r"<\s*(\w+)\s*>", java_type)
    return inner.group(1) if inner else java_type.strip()


def derive(git_dir: str, roots: list[str]) -> dict[str, dict[str, object]]:
    """Return every class reachable from ``roots``, as the module doc says."""
    files, out, todo = _files(git_dir), {}, list(roots)
    while todo:
        name = todo.pop()
        if name in out or name not in files:
            continue
        text = _source(git_dir, files[name])
        body = text[text.index("class " + name) :] if "class " + name in text else text
        parent = _EXTENDS.search(body)
        fields: dict[str, list[str | None]] = {}
        start = 0
        for match in _FIELD.finditer(body):
            annotations, (java_type, field) = body[start : match.start()], match.groups()
            start = match.end()
            if "static " in body[max(0, match.start() - 20) : match.start()]:
                continue
            if "@JsonIgnore" in annotations and "@JsonIgnoreProperties" not in annotations:
                continue
            prop = _PROPERTY.search(annotations)
            nested = _element(java_type)
            known = nested in files and f"enum {nested}" not in _source(git_dir, files[nested])
            fields[prop.group(1) if prop else field] = [
                re.sub(r"\s+", "", java_type),
                nested if known else None,
            ]
            if known:
                todo.append(nested)
        if parent and parent.group(1) in files:
            todo.append(parent.group(1))
        out[name] = {"extends": parent.group(1) if parent else None, "fields": fields}
    return dict(sorted(out.items()))


_PREFIX = re.compile(r'@RequestMapping\(\s*(?:value\s*=\s*)?"/(?:esb|open)/api/(v\d)"')
_MAPPING = re.compile(r'@(?:Get|Post)Mapping\(\s*(?:value\s*=\s*)?"/(\w+)"')
_PARAM = re.compile(r'@RequestParam\(\s*(?:value\s*=\s*)?"(\w+)"[^)]*\)')
_BODY = re.compile(r"@RequestBody\b")
_ANNOTATED = re.compile(
    r"\s*(?:@\w+(?:\((?:[^()]|\([^()]*\))*\))?\s*)*([\w.]+(?:<[\w<>, ?]*>)?)\s+\w+"
)


def _after(text: str, end: int) -> str:
    """Return the Java type of the parameter declared after ``end`` (annotations skipped)."""
    found = _ANNOTATED.match(text, end)
    return re.sub(r"\s+", "", found.group(1)) if found else "?"


def _flat(classes: dict[str, dict[str, object]], name: str) -> dict[str, str]:
    """Return a request class's top-level JSON keys and Java types, its parents' first."""
    spec = classes.get(name)
    if spec is None:
        return {}
    parent = spec["extends"]
    fields = _flat(classes, parent) if isinstance(parent, str) else {}
    for key, (java_type, _) in spec["fields"].items():  # type: ignore[attr-defined]
        fields[key] = java_type
    return fields


def requests(git_dir: str) -> dict[str, dict[str, dict[str, str]]]:
    """Return, by generation (``v2``, ``v3``, ``v4``) and API, the keys bk-job reads and their
    Java types: a resource method's ``@RequestParam`` names, or its ``@RequestBody`` class's
    fields (with its parents'); a GET and a POST of one API together."""
    files, found = _files(git_dir), {}
    for name, path in sorted(files.items()):
        if not (name.endswith("Resource") and re.search(r"/api/(?:esb|open)", path)):
            continue
        text = _source(git_dir, path)
        prefix = _PREFIX.search(text)
        if prefix is None:
            continue
        marks = list(_MAPPING.finditer(text))
        for mark, following in zip(marks, [*marks[1:], None], strict=True):
            chunk = text[mark.end() : following.start() if following else len(text)]
            keys = found.setdefault(prefix.group(1), {}).setdefault(mark.group(1), {})
            for param in _PARAM.finditer(chunk):
                keys[param.group(1)] = _after(chunk, param.end())
            body = _BODY.search(chunk)
            if body:
                cls = _after(chunk, body.end())
                keys.update(_flat(derive(git_dir, [cls]), cls))
    return found


def render_requests(git_dir: str, current: str) -> str:
    """Return ``current`` (``bkjob_async/testing/_fields.py``) with its ``COMMIT`` and the
    lines of its ``_LINES`` anew: one line per generation and API."""
    commit = subprocess.run(
        ["git", "-C", git_dir, "rev-parse", "--short=8", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = [
        " ".join([generation, api, *(f"{k}:{t}" for k, t in sorted(keys.items()))]) + "\n"
        for generation, apis in sorted(requests(git_dir).items())
        for api, keys in sorted(apis.items())
    ]
    head, _, rest = current.partition("COMMIT = ")
    tail = rest[rest.index('\n"""\n') + 1 :]
    return f'{head}COMMIT = "{commit}"\n_LINES = """\n{"".join(lines)}{tail}'


if __name__ == "__main__":
    if sys.argv[1] == "--requests":
        sys.stdout.write(render_requests(sys.argv[2], sys.stdin.read()))
    else:
        json.dump(derive(sys.argv[1], sys.argv[2:]), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
