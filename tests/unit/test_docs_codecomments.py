"""The comments of the docs' code are messages of their page's catalog (docs/_ext/codecomments.py):
which comments are words to translate, how a translation goes back in, and a Chinese build that
shows the code of the English page commented in Chinese, warning of a comment left English."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from ..docs_ext import extensions_importable, one_page_site

CODE = """\
import os  # noqa: F401
url = os.environ["URL"]  # the gateway stage; or the PaaS URL for ESB
text = "a # in a string is no comment"
# client.get(x)
# tasks.py
print(url)  # 127.0.0.1:8000
"""


@pytest.fixture(scope="module")
def codecomments():
    with extensions_importable():
        yield importlib.import_module("codecomments")


def test_only_comments_of_words_are_messages(codecomments) -> None:
    # Not a pragma, code commented out, a file's name, an address, nor a # in a string.
    assert codecomments.comments(CODE, "python") == [
        (1, 25, "the gateway stage; or the PaaS URL for ESB")
    ]
    shell = "export A=1   # secrets: env only\necho '# quoted' # or --json: one object per job\n"
    assert [m for _, _, m in codecomments.comments(shell, "sh")] == [
        "secrets: env only",
        "or --json: one object per job",
    ]
    assert len(list(codecomments.every_comment(CODE, "python"))) == 5


def test_a_translation_replaces_its_comment_and_nothing_else(codecomments) -> None:
    done = codecomments.replaced(
        CODE, "python", {"the gateway stage; or the PaaS URL for ESB": "网关环境的地址"}
    )
    assert done == CODE.replace("the gateway stage; or the PaaS URL for ESB", "网关环境的地址")
    assert codecomments.replaced(CODE, "python", {}) == CODE


PAGE = """\
# Page

Some prose.

```python
x = 1  # one, as the example says
y = 2  # two, left in English
```
"""

CATALOG = """\
msgid ""
msgstr ""
"Language: zh_CN\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgid "Page"
msgstr "页面"

msgid "Some prose."
msgstr "一些文字。"

msgid "one, as the example says"
msgstr "一，如示例所说"
"""


def test_a_chinese_build_comments_the_same_code_in_chinese(tmp_path) -> None:
    pytest.importorskip("myst_parser")
    src = tmp_path / "src"
    catalogs = one_page_site(src, PAGE, ["codecomments", "untranslated"])
    (catalogs / "index.po").write_text(CATALOG, encoding="utf-8")
    argv = [sys.executable, "-m", "sphinx", "-q", "-E"]
    gettext = subprocess.run(
        [*argv, "-b", "gettext", str(src), str(tmp_path / "pot")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert gettext.returncode == 0, gettext.stderr
    pot = (tmp_path / "pot" / "index.pot").read_text(encoding="utf-8")
    assert 'msgid "one, as the example says"' in pot
    assert 'msgid "two, left in English"' in pot
    assert "x = 1" not in pot  # (the code is no message)
    done = subprocess.run(
        [*argv, "-b", "html", "-D", "language=zh_CN", str(src), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "一，如示例所说" in page
    assert "one, as the example says" not in page
    assert "# two, left in English" in page
    assert "a message shows in English" in done.stderr
    assert "# two, left in English" in done.stderr
