"""Derive the JSON keys bk-job's Java response classes declare, nested, from a bk-job checkout.

Usage: ``python scripts/java_fields.py GIT_DIR CLASS... > tests/unit/java/NAME.json``
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


if __name__ == "__main__":
    json.dump(derive(sys.argv[1], sys.argv[2:]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
