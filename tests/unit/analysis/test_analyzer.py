"""The analyzer on generated Python, JavaScript, Go and Rust repositories."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from activities.analysis import AnalysisLimits, AnalysisReport, analyze_repository
from domain.cancellation import OperationCancelled
from domain.errors import ValidationFailed


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def symbols_of(report: AnalysisReport, path: str) -> set[tuple[str, str]]:
    entry = next(f for f in report.files if f.path == path)
    return {(s.name, s.kind) for s in entry.symbols}


def edges_of(report: AnalysisReport) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in report.dependency_graph.edges}


def test_python_repository_gets_pytest_commands_symbols_and_import_edges(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "calc"\nversion = "0.1"\n'
            '[tool.pytest.ini_options]\naddopts = "-q"\n',
            "calc/__init__.py": "",
            "calc/core.py": "import json\nfrom calc import util\n\nLIMIT = 3\n\n"
            "class Calculator:\n    def add(self, a, b):\n        return a + b\n\n"
            "async def fetch():\n    pass\n",
            "calc/util.py": "from .core import LIMIT\n\ndef clamp(x):\n    return min(x, LIMIT)\n",
            "tests/test_core.py": "from calc.core import Calculator\n\ndef test_add():\n"
            "    assert Calculator().add(1, 2) == 3\n",
            ".venv/lib/site.py": "def vendored():\n    pass\n",
        },
    )
    report = analyze_repository(tmp_path)

    assert report.primary_language == "Python"
    assert report.test_command == "python -m pytest -q"
    # Python installs into the repository's environment, from the setup plan
    assert report.setup_command is None
    [env] = report.setup_plan.environments
    assert env.kind == "python" and env.install_project and env.test_packages == ["pytest"]
    assert report.command_sources["test_command"] == "pyproject.toml"
    assert report.command_reasons["test_command"] == (
        "python -m pytest -q (pyproject.toml has [tool.pytest.ini_options])"
    )
    assert symbols_of(report, "calc/core.py") == {
        ("LIMIT", "variable"),
        ("Calculator", "class"),
        ("fetch", "function"),
    }
    assert ("calc/core.py", "calc/util.py") in edges_of(report)
    assert ("calc/util.py", "calc/core.py") in edges_of(report)
    assert ("tests/test_core.py", "calc/core.py") in edges_of(report)
    assert report.dependency_graph.external["calc/core.py"] == ["json"]
    assert not any(f.path.startswith(".venv/") for f in report.files)
    assert report.skipped.vendored_dirs == 1


def test_javascript_repository_uses_package_scripts_and_resolves_relative_imports(
    tmp_path: Path,
) -> None:
    package = {
        "name": "web",
        "scripts": {"build": "tsc -p .", "test": "node --test"},
        "dependencies": {"express": "^4.0.0"},
    }
    write(
        tmp_path,
        {
            "package.json": json.dumps(package, indent=2),
            "package-lock.json": "{}",
            "src/index.js": "import express from 'express';\nimport { route } from './routes';\n"
            "const helper = require('./lib/helper.js');\n\nexport function start() {}\n"
            "export class Server {}\nexport const PORT = 8080;\n",
            "src/routes/index.js": "export default function route() {}\n",
            "src/lib/helper.js": "module.exports = {};\nfunction internal() {}\n",
            "dist/bundle.min.js": "var a=1;",
            "node_modules/express/index.js": "module.exports = function () {};\n",
        },
    )
    report = analyze_repository(tmp_path)

    assert report.primary_language == "JavaScript"
    assert report.setup_command == "npm ci"
    assert report.build_command == "npm run build"
    assert report.test_command == "npm run test --silent"
    assert symbols_of(report, "src/index.js") == {
        ("start", "function"),
        ("Server", "class"),
        ("PORT", "variable"),
        ("helper", "variable"),
    }
    assert symbols_of(report, "src/routes/index.js") == {("route", "function")}
    assert edges_of(report) == {
        ("src/index.js", "src/routes/index.js"),
        ("src/index.js", "src/lib/helper.js"),
    }
    assert report.dependency_graph.external["src/index.js"] == ["express"]
    assert not any(f.path.startswith(("node_modules/", "dist/")) for f in report.files)


def test_npm_placeholder_test_script_gives_no_test_command(tmp_path: Path) -> None:
    package = {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
    write(tmp_path, {"package.json": json.dumps(package), "a.js": "const x = 1;\n"})
    report = analyze_repository(tmp_path)
    assert report.test_command is None
    assert report.setup_command == "npm install"


def test_go_repository_gets_go_commands_and_module_import_edges(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "go.mod": "module example.com/shop\n\ngo 1.22\n",
            "main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/shop/cart"\n)\n\n'
            "func main() {\n\tfmt.Println(cart.Total())\n}\n",
            "cart/cart.go": "package cart\n\ntype Cart struct {\n\tItems []int\n}\n\n"
            "type Pricer interface {\n\tPrice() int\n}\n\n"
            "func (c *Cart) Add(i int) {}\n\nfunc Total() int { return 0 }\n\nconst Max = 10\n",
        },
    )
    report = analyze_repository(tmp_path)

    assert report.primary_language == "Go"
    assert (report.setup_command, report.build_command, report.test_command) == (
        "go mod download",
        "go build ./...",
        "go test ./...",
    )
    assert symbols_of(report, "cart/cart.go") == {
        ("Cart", "struct"),
        ("Pricer", "interface"),
        ("Add", "method"),
        ("Total", "function"),
        ("Max", "variable"),
    }
    assert edges_of(report) == {("main.go", "cart/cart.go")}
    assert report.dependency_graph.external["main.go"] == ["fmt"]


def test_rust_repository_gets_cargo_commands_and_module_edges(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Cargo.toml": '[package]\nname = "geo"\nversion = "0.1.0"\n\n[dependencies]\n'
            'serde = "1"\n',
            "src/lib.rs": "pub mod shapes;\nuse serde::Serialize;\nuse crate::shapes::Circle;\n\n"
            "pub fn area(c: &Circle) -> f64 { 0.0 }\n\npub struct Point { x: f64 }\n\n"
            "impl std::fmt::Display for Point {}\n\npub const ORIGIN: f64 = 0.0;\n",
            "src/shapes.rs": "pub struct Circle;\npub enum Kind { A }\npub trait Shape {}\n",
            "target/debug/build.rs": "fn generated() {}\n",
        },
    )
    report = analyze_repository(tmp_path)

    assert report.primary_language == "Rust"
    assert (report.build_command, report.test_command) == (
        "cargo build --quiet",
        "cargo test --quiet --no-fail-fast",
    )
    assert symbols_of(report, "src/lib.rs") == {
        ("shapes", "module"),
        ("area", "function"),
        ("Point", "struct"),
        ("Point", "impl"),
        ("ORIGIN", "constant"),
    }
    assert symbols_of(report, "src/shapes.rs") == {
        ("Circle", "struct"),
        ("Kind", "enum"),
        ("Shape", "trait"),
    }
    assert edges_of(report) == {("src/lib.rs", "src/shapes.rs")}
    assert report.dependency_graph.external["src/lib.rs"] == ["serde"]


def test_makefile_targets_fill_commands_no_language_tool_provides(tmp_path: Path) -> None:
    write(tmp_path, {"Makefile": "build:\n\tcc main.c\n\ntest: build\n\t./a.out\n", "main.c": ""})
    report = analyze_repository(tmp_path)
    assert (report.build_command, report.test_command) == ("make build", "make test")


def test_repository_properties_override_detected_commands(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module m\n", "main.go": "package main\n"})
    report = analyze_repository(
        tmp_path, overrides={"test_command": "go test -run Fast ./...", "unrelated": 1}
    )
    assert report.test_command == "go test -run Fast ./..."
    assert report.command_sources["test_command"] == "override"
    assert report.build_command == "go build ./..."


def test_override_that_is_not_a_string_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="build_command override must be a non-empty"):
        analyze_repository(tmp_path, overrides={"build_command": ["make"]})


def test_binary_generated_and_oversized_files_are_mapped_but_not_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "logo.png": b"\x89PNG\x00\x00",
            "blob.py": b"x = 1\x00\x00",
            "api_pb2.py": "class Message:\n    pass\n",
            "gen.go": "// Code generated by protoc. DO NOT EDIT.\npackage gen\nfunc X() {}\n",
            "big.py": "def f():\n    pass\n" + "# pad\n" * 200,
            "small.py": "def g():\n    pass\n",
        },
    )
    report = analyze_repository(tmp_path, limits=AnalysisLimits(max_bytes_per_file=500))
    reasons = {f.path: f.skipped for f in report.files}
    assert reasons == {
        "logo.png": "binary",
        "blob.py": "binary",
        "api_pb2.py": "generated",
        "gen.go": "generated",
        "big.py": "too_large",
        "small.py": None,
    }
    assert (report.skipped.binary, report.skipped.generated, report.skipped.too_large) == (2, 2, 1)
    assert report.languages[0].name == "Python" and report.languages[0].share == 1.0


def test_language_shares_follow_source_bytes(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "x = 1\n" * 30, "b.js": "var y = 2;\n" * 6})
    report = analyze_repository(tmp_path)
    shares = {lang.name: lang.share for lang in report.languages}
    assert shares == {"Python": round(180 / 246, 4), "JavaScript": round(66 / 246, 4)}


def test_report_and_graph_serialise_as_separate_json_artifacts(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "import b\n", "b.py": "X = 1\n"})
    report = analyze_repository(tmp_path)
    as_json = json.loads(report.model_dump_json())
    assert "dependency_graph" not in as_json
    assert AnalysisReport.model_validate(as_json).files == report.files
    graph = json.loads(report.dependency_graph.model_dump_json())
    assert graph["edges"] == [{"source": "a.py", "target": "b.py"}]


def test_analysis_of_twenty_thousand_files_covers_them_all_and_skips_vendored_code(
    tmp_path: Path,
) -> None:
    # how fast is bench's business (bench/end_to_end.py), not a test's: no time budget here
    files: dict[str, str | bytes] = {"pyproject.toml": '[project]\nname = "big"\n'}
    for i in range(19_000):
        files[f"pkg{i % 50}/mod{i}.py"] = f"import pkg{i % 50}.mod{max(i - 50, 0)}\n\n" + (
            f"class C{i}:\n    pass\n\ndef f{i}():\n    return {i}\n"
        )
    for i in range(1_000):
        files[f"node_modules/dep{i % 20}/index{i}.js"] = "module.exports = 1;\n"
    write(tmp_path, files)

    report = analyze_repository(tmp_path, limits=AnalysisLimits(time_budget_seconds=600))

    assert report.total_files == 19_001
    assert symbols_of(report, "pkg7/mod1007.py") == {("C1007", "class"), ("f1007", "function")}
    assert len(report.dependency_graph.edges) > 18_000


def test_time_budget_stops_reading_and_marks_the_report_truncated(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": "def f():\n    pass\n" for i in range(50)})
    report = analyze_repository(tmp_path, limits=AnalysisLimits(time_budget_seconds=0.0))
    assert report.truncated
    assert report.skipped.over_time_budget == 50
    assert report.total_files == 50


def test_file_cap_limits_how_many_files_are_read(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": "def f():\n    pass\n" for i in range(10)})
    report = analyze_repository(tmp_path, limits=AnalysisLimits(max_files_read=4))
    assert report.skipped.over_file_cap == 6
    assert sum(1 for f in report.files if f.symbols) == 4


def test_cancelled_analysis_stops_with_operation_cancelled(tmp_path: Path) -> None:
    write(tmp_path, {f"m{i}.py": "x = 1\n" for i in range(1100)})
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(OperationCancelled, match="repository analysis was cancelled"):
        analyze_repository(tmp_path, cancel=cancel)


def test_a_null_command_override_switches_the_detected_phase_off(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module example.com/x\n", "x.go": "package x\n"})
    report = analyze_repository(tmp_path, overrides={"build_command": None, "test_command": False})
    assert (report.build_command, report.test_command) == (None, None)
    assert report.command_reasons["build_command"] == (
        "repository property build_command switches it off"
    )
    assert report.setup_command == "go mod download"
