"""The fixed tasks of bench/agent_eval.py: a request, the tree it starts from (more-itertools
from PyPI, or a tiny inline project), the hidden test that judges it and the scripted
model's answers that solve it (what CI runs against the scripted model server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.codegen.model_server import Reply

MORE = "more_itertools/more.py"
RECIPES = "more_itertools/recipes.py"


@dataclass
class Task:
    name: str
    title: str
    description: str
    source: Callable[[Path], None]  # fills the worktree
    hidden_test: str  # a Python script run after the agent finished; exit 0 = pass
    script: list[Reply] = field(default_factory=list)  # the scripted model's answers
    forbidden: list[str] = field(default_factory=list)


def more_itertools(dest: Path) -> None:
    from tests.fixtures.real_projects import MORE_ITERTOOLS
    from tests.fixtures.registry import pypi_sdist

    pypi_sdist(*MORE_ITERTOOLS).copy_tree(dest)


def more_itertools_with_bug(dest: Path) -> None:
    more_itertools(dest)
    path = dest / MORE
    good = "return sum(compress(repeat(1), zip(iterable)))"
    path.write_text(path.read_text().replace(good, good + " - 1"))


def inline(files: dict[str, str]) -> Callable[[Path], None]:
    def fill(dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_text(text)

    return fill


def call(name: str, **args: Any) -> Reply:
    return Reply(tool_calls=[(name, args)])


CALC = {"calc.py": "def add(a, b):\n    return a + b\n", "test_calc.py": (
    "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")}  # fmt: skip
GREET = {
    "app/__init__.py": "from app.greet import greet\n",
    "app/greet.py": "def greet(name):\n    return f'Hello, {name}!'\n",
    "app/cli.py": "from app.greet import greet\n\n\ndef main():\n    print(greet('world'))\n",
}


def planted(path: str, good: str, bad: str) -> Callable[[Path], None]:
    """more-itertools with one line broken (the task is to find and fix it)."""

    def fill(dest: Path) -> None:
        more_itertools(dest)
        target = dest / path
        text = target.read_text()
        assert good in text, f"{good!r} not in {path}"
        target.write_text(text.replace(good, bad, 1))

    return fill


CONFIG = {
    "settings/__init__.py": "",
    "settings/parse.py": (
        "def parse(text):\n"
        '    """`key=value` lines into a dict; blank lines and `#` comments skipped."""\n'
        "    out = {}\n"
        "    for line in text.splitlines():\n"
        "        line = line.strip()\n"
        "        if not line or line.startswith('#'):\n"
        "            continue\n"
        "        key, value = line.split('=')\n"
        "        out[key.strip()] = value.strip()\n"
        "    return out\n"
    ),
}
DIV = {"calc.py": "def div(a, b):\n    return a / b\n"}
LEGACY = {
    "app/__init__.py": "from app.core import run\n",
    "app/core.py": "def run():\n    return 'ok'\n",
    "app/legacy.py": "# the old entry point, unused since 2.0\ndef old_run():\n    return 'old'\n",
    "README.md": "# app\n\nCall `app.run()`.\n\nThe old `app.legacy.old_run()` still works.\n",
}
TAIL_GOOD = "islice(iterable, max(0, len(iterable) - n), None)"
TAIL_BAD = "islice(iterable, max(0, len(iterable) - n + 1), None)"


TASKS = [
    Task(
        "more-itertools: add clamped",
        "Add clamped()",
        "Add `clamped(iterable, low, high)` to more_itertools: a list of the items limited to "
        "[low, high]. Export it from the package.",
        more_itertools,
        "from more_itertools import clamped\nassert clamped([1, 5, 9], 2, 6) == [2, 5, 6]\n"
        "assert clamped([], 0, 1) == []\n",
        [
            call("search", pattern="^def chunked", glob=MORE),
            Reply(
                tool_calls=[
                    (
                        "edit_file",
                        {
                            "path": MORE,
                            "old": "    'chunked',\n",
                            "new": "    'chunked',\n    'clamped',\n",
                        },
                    ),
                    (
                        "edit_file",
                        {
                            "path": MORE,
                            "old": "def chunked(iterable, n, strict=False):\n",
                            "new": "def clamped(iterable, low, high):\n    return [min(max(x,"
                            " low), high) for x in iterable]\n\n\ndef chunked(iterable, n, "
                            "strict=False):\n",
                        },
                    ),
                ]
            ),
            call(
                "run",
                command="python -c 'from more_itertools import clamped; print(clamped([9], 0, 5))'",
            ),
            call("finish", summary="added clamped"),
        ],
    ),
    Task(
        "more-itertools: fix ilen",
        "Fix ilen()",
        "`more_itertools.ilen` returns one less than the number of items. Fix it.",
        more_itertools_with_bug,
        "from more_itertools import ilen\nassert ilen(range(5)) == 5\nassert ilen([]) == 0\n",
        [
            call("search", pattern="^def ilen", glob=MORE),
            call("read_file", path=MORE, start_line=467, end_line=480),
            call("edit_file", path=MORE, old="zip(iterable))) - 1", new="zip(iterable)))"),
            call("run", command="python -m unittest tests.test_more -k ilen"),
            call("finish", summary="removed the off-by-one"),
        ],
    ),
    Task(
        "calc: add mul",
        "Add mul()",
        "Add `mul(a, b)` to calc.py, with a test in test_calc.py.",
        inline(CALC),
        "from calc import mul\nassert mul(3, 4) == 12\n",
        [
            call("read_file", path="calc.py"),
            call(
                "edit_file",
                path="calc.py",
                old="def add(a, b):\n",
                new="def mul(a, b):\n    return a * b\n\n\ndef add(a, b):\n",
            ),
            call("finish", summary="added mul"),
        ],
    ),
    Task(
        "app: rename greet to hello",
        "Rename greet to hello",
        "Rename the function `greet` to `hello` everywhere in the app package; same behaviour.",
        inline(GREET),
        "import pathlib\nfrom app import hello\nassert hello('x') == 'Hello, x!'\n"
        "assert 'greet(' not in ''.join(p.read_text() for p in pathlib.Path('app').glob('*.py'))\n",
        [
            call("search", pattern="greet"),
            Reply(
                tool_calls=[
                    (
                        "write_file",
                        {
                            "path": "app/greet.py",
                            "content": "def hello(name):\n    return f'Hello, {name}!'\n",
                        },
                    ),
                    (
                        "write_file",
                        {"path": "app/__init__.py", "content": "from app.greet import hello\n"},
                    ),
                    (
                        "edit_file",
                        {"path": "app/cli.py", "old": "import greet", "new": "import hello"},
                    ),
                    (
                        "edit_file",
                        {"path": "app/cli.py", "old": "print(greet(", "new": "print(hello("},
                    ),
                ]
            ),
            call("finish", summary="renamed"),
        ],
    ),
    Task(
        "more-itertools: fix tail",
        "Fix tail()",
        "`more_itertools.tail(n, iterable)` returns one item too few when the iterable has a "
        "length (a list, a string). Fix it.",
        planted(RECIPES, TAIL_GOOD, TAIL_BAD),
        "from more_itertools import tail\nassert list(tail(3, 'ABCDEFG')) == ['E', 'F', 'G']\n"
        "assert list(tail(2, iter([1, 2, 3]))) == [2, 3]\nassert list(tail(5, [1])) == [1]\n",
        [
            call("search", pattern="^def tail", glob=RECIPES),
            call("read_file", path=RECIPES, start_line=132, end_line=150),
            call("edit_file", path=RECIPES, old=TAIL_BAD, new=TAIL_GOOD),
            call("run", command="python -m unittest tests.test_recipes -k Tail"),
            call("finish", summary="removed the off-by-one in the sized branch"),
        ],
    ),
    Task(
        "more-itertools: fix quantify, tests kept",
        "Fix quantify()",
        "`more_itertools.quantify(iterable, pred)` ignores `pred`. Fix it. The tests/ "
        "directory must not change.",
        planted(RECIPES, "return sum(map(pred, iterable))", "return sum(map(bool, iterable))"),
        "import pathlib\nfrom more_itertools import quantify\n"
        "assert quantify([1, 2, 3, 4], lambda x: x % 2 == 0) == 2\n"
        "assert quantify([0, 1, 2]) == 2\n"
        "assert not pathlib.Path('tests/test_quantify.py').exists()\n",
        [
            # the model first tries to add a test where it may not: refused, it recovers
            call("write_file", path="tests/test_quantify.py", content="import unittest\n"),
            call(
                "edit_file",
                path=RECIPES,
                old="sum(map(bool, iterable))",
                new="sum(map(pred, iterable))",
            ),
            call("finish", summary="quantify applies pred again"),
        ],
        forbidden=["tests/**"],
    ),
    Task(
        "more-itertools: add count_where",
        "Add count_where()",
        "Add `count_where(predicate, iterable)` to more_itertools' recipes: how many items "
        "the predicate is true for. Export it from the package like the other recipes.",
        more_itertools,
        "from more_itertools import count_where\nimport more_itertools.recipes as r\n"
        "assert count_where(str.isupper, 'aBcD') == 2\nassert count_where(bool, []) == 0\n"
        "assert 'count_where' in r.__all__\n",
        [
            call("read_file", path=RECIPES, start_line=34, end_line=62),
            Reply(
                tool_calls=[
                    (
                        "edit_file",
                        {
                            "path": RECIPES,
                            "old": "    'quantify',\n",
                            "new": "    'quantify',\n    'count_where',\n",
                        },
                    ),
                    (
                        "edit_file",
                        {
                            "path": RECIPES,
                            "old": "def pad_none(iterable):\n",
                            "new": 'def count_where(predicate, iterable):\n    """Count'
                            ' the items *predicate* is true for."""\n    return '
                            "sum(1 for x in iterable if predicate(x))\n\n\n"
                            "def pad_none(iterable):\n",
                        },
                    ),
                ]
            ),
            call(
                "run",
                command="python -c 'import more_itertools as m; "
                "print(m.count_where(bool, [0, 1]))'",
            ),
            call("finish", summary="added count_where"),
        ],
    ),
    Task(
        "settings: values with '='",
        "Values may contain '='",
        "settings.parse.parse fails on a line like `url=http://h/?a=b`: everything after "
        "the first `=` is the value. Fix it.",
        inline(CONFIG),
        "from settings.parse import parse\n"
        "assert parse('a = 1\\n# c\\n\\nurl=http://h/?a=b\\n') == "
        "{'a': '1', 'url': 'http://h/?a=b'}\n",
        [
            call("read_file", path="settings/parse.py"),
            call(
                "edit_file",
                path="settings/parse.py",
                old="line.split('=')",
                new="line.split('=', 1)",
            ),
            call(
                "run",
                command="python -c \"from settings.parse import parse; print(parse('u=a=b'))\"",
            ),
            call("finish", summary="split on the first '=' only"),
        ],
    ),
    Task(
        "calc: div by zero",
        "div() by zero",
        "`calc.div(a, 0)` raises ZeroDivisionError; make it raise ValueError('division by "
        "zero') instead. Other divisions unchanged.",
        inline(DIV),
        "from calc import div\nassert div(6, 3) == 2\ntry:\n    div(1, 0)\n"
        "except ValueError as e:\n    assert 'zero' in str(e)\nelse:\n    raise AssertionError\n",
        [
            call(
                "edit_file",
                path="calc.py",
                old="    return a / b\n",
                new="    if b == 0:\n        raise ValueError('division by zero')\n"
                "    return a / b\n",
            ),
            call("finish", summary="div raises ValueError on zero"),
        ],
    ),
    Task(
        "app: delete the legacy module",
        "Remove app/legacy.py",
        "Delete the unused module app/legacy.py and the README's sentence about it.",
        inline(LEGACY),
        "import pathlib\nimport app\nassert app.run() == 'ok'\n"
        "assert not pathlib.Path('app/legacy.py').exists()\n"
        "assert 'legacy' not in pathlib.Path('README.md').read_text()\n",
        [
            call("search", pattern="legacy"),
            Reply(
                tool_calls=[
                    ("run", {"command": "rm app/legacy.py"}),
                    (
                        "edit_file",
                        {
                            "path": "README.md",
                            "old": "\nThe old `app.legacy.old_run()` still works.\n",
                            "new": "",
                        },
                    ),
                ]
            ),
            call("finish", summary="removed legacy"),
        ],
    ),
]
