"""The spec engine: every declared operation, and the precise failure of each."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from activities.codegen.budget import Budget
from activities.codegen.engine import FeatureRequest
from activities.codegen.spec import SpecEngine
from activities.codegen.workspace import FilesystemWorkspace
from domain.changes import declared_changes_adapter
from domain.edits import DeleteEdit, RenameEdit
from domain.enums import StepType
from domain.errors import GenerationFailed, PlanningFailed, PolicyViolation
from domain.values import FeatureConstraints
from tests.unit.codegen.edits_on_disk import apply_to_dir, write_tree

engine = SpecEngine()


def request(*changes: dict, constraints: FeatureConstraints | None = None) -> FeatureRequest:
    return FeatureRequest(
        title="Feature",
        description="A declared feature",
        constraints=constraints or FeatureConstraints(),
        changes=declared_changes_adapter.validate_python(list(changes)),
    )


def run(root: Path, req: FeatureRequest) -> None:
    """Plan, then generate and apply every step in order, like the workflow does."""
    view = FilesystemWorkspace(root)
    plan = engine.plan(req, None, view=view).plan
    for step in plan.steps:
        apply_to_dir(root, engine.generate(req, step, view, Budget()).edits)


def generate_one(root: Path, change: dict) -> list:
    req = request(change)
    view = FilesystemWorkspace(root)
    step = engine.plan(req, None, view=view).plan.steps[0]
    return engine.generate(req, step, view, Budget()).edits


def test_plan_has_one_step_per_change_with_matching_types_and_targets(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "x = 1\n", "pyproject.toml": "[project]\nname = 'p'\n"})
    req = request(
        {"op": "write_file", "path": "new.py", "content": ""},
        {"op": "write_file", "path": "a.py", "content": "x = 2\n"},
        {"op": "write_file", "path": "new.py", "content": "again"},
        {"op": "replace_text", "path": "a.py", "search": "x", "replace": "y"},
        {"op": "regex_replace", "glob": "*.py", "pattern": "y", "replacement": "z"},
        {"op": "apply_diff", "diff": "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-z = 2\n+w = 2\n"},
        {"op": "delete_file", "path": "new.py", "description": "Drop the scratch file"},
        {"op": "rename_file", "path": "a.py", "new_path": "pkg/a.py"},
        {"op": "add_dependency", "ecosystem": "python", "name": "httpx", "version": "0.27"},
    )
    plan = engine.plan(req, None, view=FilesystemWorkspace(tmp_path)).plan
    assert [(s.index, s.type, s.target_files) for s in plan.steps] == [
        (0, StepType.CREATE_FILE, ["new.py"]),
        (1, StepType.MODIFY_FILE, ["a.py"]),
        (2, StepType.MODIFY_FILE, ["new.py"]),
        (3, StepType.MODIFY_FILE, ["a.py"]),
        (4, StepType.MODIFY_FILE, ["a.py", "new.py"]),
        (5, StepType.MODIFY_FILE, ["a.py"]),
        (6, StepType.DELETE_FILE, ["new.py"]),
        (7, StepType.RENAME_FILE, ["a.py", "pkg/a.py"]),
        (8, StepType.ADD_DEPENDENCY, ["pyproject.toml"]),
    ]
    assert plan.steps[0].description == "Create new.py"
    assert plan.steps[6].description == "Drop the scratch file"
    assert plan.steps[8].description == "Add dependency httpx 0.27 to pyproject.toml"

    run(tmp_path, req)
    assert sorted(p.name for p in tmp_path.rglob("*.py")) == ["a.py"]
    assert (tmp_path / "pkg/a.py").read_text() == "w = 2\n"
    assert tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]["dependencies"] == [
        "httpx>=0.27"
    ]


def test_plan_without_changes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanningFailed, match=r"needs declared changes"):
        engine.plan(FeatureRequest(title="t", description="d" * 10), None)


def test_plan_breaking_max_steps_is_refused_with_the_numbers(tmp_path: Path) -> None:
    req = request(
        {"op": "write_file", "path": "a", "content": ""},
        {"op": "write_file", "path": "b", "content": ""},
        constraints=FeatureConstraints(max_steps=1),
    )
    with pytest.raises(PlanningFailed, match=r"plan has 2 steps but constraints.max_steps is 1"):
        engine.plan(req, None)


def test_plan_touching_a_forbidden_path_is_a_policy_violation(tmp_path: Path) -> None:
    req = request(
        {"op": "write_file", "path": "src/ok.py", "content": ""},
        {"op": "write_file", "path": ".github/workflows/ci.yml", "content": ""},
        constraints=FeatureConstraints(forbidden_paths=[".github/"]),
    )
    with pytest.raises(
        PolicyViolation,
        match=r"step 1 \(create_file\) targets path '.github/workflows/ci.yml' matches "
        r"forbidden pattern '.github/'",
    ):
        engine.plan(req, None)


def test_plan_outside_allowed_paths_is_a_policy_violation() -> None:
    req = request(
        {"op": "write_file", "path": "docs/x.md", "content": ""},
        constraints=FeatureConstraints(allowed_paths=["src/**"]),
    )
    with pytest.raises(PolicyViolation, match=r"'docs/x.md' is outside the allowed paths"):
        engine.plan(req, None)


def test_path_escaping_the_repository_is_a_policy_violation() -> None:
    with pytest.raises(PolicyViolation, match=r"escapes the repository"):
        engine.plan(request({"op": "write_file", "path": "../etc/passwd", "content": ""}), None)


def test_replace_text_with_expected_count(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "foo\nfoo\nbar\n"})
    edits = generate_one(
        tmp_path,
        {"op": "replace_text", "path": "a.py", "search": "foo", "replace": "x", "count": 2},
    )
    assert edits[0].content == "x\nx\nbar\n"


def test_replace_text_with_missing_search_names_file_and_counts(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "bar\n"})
    with pytest.raises(
        GenerationFailed, match=r"^expected 1 occurrence of 'foo' in a.py, found 0$"
    ):
        generate_one(
            tmp_path, {"op": "replace_text", "path": "a.py", "search": "foo", "replace": ""}
        )


def test_replace_text_with_too_many_occurrences_fails(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "foo foo foo\n"})
    with pytest.raises(GenerationFailed, match=r"expected 2 occurrences of 'foo' in a.py, found 3"):
        generate_one(
            tmp_path,
            {"op": "replace_text", "path": "a.py", "search": "foo", "replace": "", "count": 2},
        )


def test_replace_text_in_missing_file_fails(tmp_path: Path) -> None:
    with pytest.raises(GenerationFailed, match=r"replace_text: nope.py does not exist"):
        generate_one(
            tmp_path, {"op": "replace_text", "path": "nope.py", "search": "a", "replace": "b"}
        )


def test_regex_replace_across_a_glob(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {"src/a.py": "VERSION = '1.0'\n", "src/sub/b.py": "VERSION = '1.0'\n", "c.txt": "1.0"},
    )
    edits = generate_one(
        tmp_path,
        {
            "op": "regex_replace",
            "glob": "src/**/*.py",
            "pattern": r"VERSION = '(\d+)\.0'",
            "replacement": r"VERSION = '\g<1>.1'",
            "min_matches": 2,
        },
    )
    assert {(e.path, e.content) for e in edits} == {
        ("src/a.py", "VERSION = '1.1'\n"),
        ("src/sub/b.py", "VERSION = '1.1'\n"),
    }


def test_regex_replace_below_min_matches_fails_with_counts(tmp_path: Path) -> None:
    write_tree(tmp_path, {"src/a.py": "x\n", "src/b.py": "y\n"})
    with pytest.raises(
        GenerationFailed,
        match=r"regex 'zzz' matched 0 time\(s\) in 2 file\(s\) matching 'src/\*.py', "
        r"expected at least 1",
    ):
        generate_one(
            tmp_path,
            {"op": "regex_replace", "glob": "src/*.py", "pattern": "zzz", "replacement": ""},
        )


def test_regex_replace_with_invalid_pattern_fails(tmp_path: Path) -> None:
    with pytest.raises(GenerationFailed, match=r"invalid pattern '\('"):
        generate_one(
            tmp_path, {"op": "regex_replace", "glob": "*", "pattern": "(", "replacement": ""}
        )


DIFF = """\
diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -1,4 +1,4 @@
 import os
-def main():
+def main() -> None:
     print("hi")
<SP>
@@ -8,2 +8,3 @@ def helper():
 def tail():
     return 1
+# end
diff --git a/new_mod.py b/new_mod.py
new file mode 100644
--- /dev/null
+++ b/new_mod.py
@@ -0,0 +1,2 @@
+def created():
+    return 2
diff --git a/old.py b/old.py
deleted file mode 100644
--- a/old.py
+++ /dev/null
@@ -1 +0,0 @@
-gone = True
""".replace("<SP>", " ")

APP = 'import os\ndef main():\n    print("hi")\n\n\n\ndef helper():\ndef tail():\n    return 1\n'


def test_unified_diff_modifies_creates_and_deletes_files(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app.py": APP, "old.py": "gone = True\n"})
    run(tmp_path, request({"op": "apply_diff", "diff": DIFF}))
    assert (tmp_path / "app.py").read_text() == APP.replace(
        "def main():", "def main() -> None:"
    ) + "# end\n"
    assert (tmp_path / "new_mod.py").read_text() == "def created():\n    return 2\n"
    assert not (tmp_path / "old.py").exists()


def test_unified_diff_hunk_applies_at_an_offset(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app.py": "# header\n# more\n" + APP, "old.py": "gone = True\n"})
    run(tmp_path, request({"op": "apply_diff", "diff": DIFF}))
    assert (
        (tmp_path / "app.py").read_text().startswith("# header\n# more\nimport os\ndef main() ->")
    )


def test_unified_diff_hunk_that_does_not_apply_names_file_hunk_and_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app.py": APP.replace("return 1", "return 7"), "old.py": "gone = True\n"})
    with pytest.raises(
        GenerationFailed,
        match=r"^hunk 2 of app.py \(@@ -8,2 \+8,3 @@\) does not apply: "
        r"expected line 9 to be '    return 1', found '    return 7'$",
    ):
        generate_one(tmp_path, {"op": "apply_diff", "diff": DIFF})


def test_unified_diff_creating_an_existing_file_fails(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app.py": APP, "old.py": "gone = True\n", "new_mod.py": "x"})
    with pytest.raises(GenerationFailed, match=r"diff creates new_mod.py but it already exists"):
        generate_one(tmp_path, {"op": "apply_diff", "diff": DIFF})


def test_unified_diff_on_a_missing_file_fails(tmp_path: Path) -> None:
    with pytest.raises(GenerationFailed, match=r"diff modifies app.py but it does not exist"):
        generate_one(tmp_path, {"op": "apply_diff", "diff": DIFF})


def test_malformed_diff_fails_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(GenerationFailed, match=r"malformed diff: no file headers"):
        generate_one(tmp_path, {"op": "apply_diff", "diff": "just some text\n"})
    bad = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n?b\n"
    with pytest.raises(GenerationFailed, match=r"malformed diff at line 5: hunk .* ends early"):
        generate_one(tmp_path, {"op": "apply_diff", "diff": bad})


def test_unified_diff_respects_missing_newline_at_end_of_file(tmp_path: Path) -> None:
    write_tree(tmp_path, {"v.txt": "1.0"})
    diff = "--- a/v.txt\n+++ b/v.txt\n@@ -1 +1 @@\n-1.0\n\\ No newline at end of file\n+2.0\n"
    edits = generate_one(tmp_path, {"op": "apply_diff", "diff": diff})
    assert edits[0].content == "2.0\n"
    diff2 = diff + "\\ No newline at end of file\n"
    assert generate_one(tmp_path, {"op": "apply_diff", "diff": diff2})[0].content == "2.0"


def test_git_rename_in_a_diff_becomes_a_rename_edit(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "x = 1\n"})
    diff = (
        "diff --git a/a.py b/b.py\nsimilarity index 50%\nrename from a.py\nrename to b.py\n"
        "--- a/a.py\n+++ b/b.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    )
    edits = generate_one(tmp_path, {"op": "apply_diff", "diff": diff})
    assert edits == [RenameEdit(path="a.py", new_path="b.py", content="x = 2\n")]


def test_delete_and_rename(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.py": "", "b.py": ""})
    assert generate_one(tmp_path, {"op": "delete_file", "path": "a.py"}) == [
        DeleteEdit(path="a.py")
    ]
    assert generate_one(tmp_path, {"op": "rename_file", "path": "b.py", "new_path": "c/b.py"}) == [
        RenameEdit(path="b.py", new_path="c/b.py")
    ]


def test_delete_and_rename_of_missing_files_fail_precisely(tmp_path: Path) -> None:
    write_tree(tmp_path, {"b.py": "", "c.py": ""})
    with pytest.raises(GenerationFailed, match=r"^delete_file: a.py does not exist$"):
        generate_one(tmp_path, {"op": "delete_file", "path": "a.py"})
    with pytest.raises(GenerationFailed, match=r"^rename_file: a.py does not exist$"):
        generate_one(tmp_path, {"op": "rename_file", "path": "a.py", "new_path": "z.py"})
    with pytest.raises(GenerationFailed, match=r"^rename_file: destination c.py already exists$"):
        generate_one(tmp_path, {"op": "rename_file", "path": "b.py", "new_path": "c.py"})


def test_step_sees_the_result_of_earlier_steps(tmp_path: Path) -> None:
    req = request(
        {"op": "write_file", "path": "a.py", "content": "x = 1\n"},
        {"op": "replace_text", "path": "a.py", "search": "x = 1", "replace": "x = 2"},
    )
    run(tmp_path, req)
    assert (tmp_path / "a.py").read_text() == "x = 2\n"


PYPROJECT = """\
[project]
name = "app"
# keep this comment
dependencies = [
    "requests[socks]>=2.0; python_version > '3.8'",
    "attrs",
]

[tool.ruff]
line-length = 100
"""


def dep(ecosystem: str, name: str, version: str, **kw: object) -> dict:
    return {"op": "add_dependency", "ecosystem": ecosystem, "name": name, "version": version, **kw}


def test_pyproject_dependency_is_added_and_bumped_keeping_extras_and_comments(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, {"pyproject.toml": PYPROJECT})
    run(tmp_path, request(dep("python", "httpx", "0.27"), dep("python", "Requests", "==2.32")))
    text = (tmp_path / "pyproject.toml").read_text()
    assert "# keep this comment" in text and "line-length = 100" in text
    assert tomllib.loads(text)["project"]["dependencies"] == [
        "requests[socks]==2.32; python_version > '3.8'",
        "attrs",
        "httpx>=0.27",
    ]


def test_pyproject_without_dependencies_key_gets_one(tmp_path: Path) -> None:
    write_tree(tmp_path, {"pyproject.toml": '[project]\nname = "x"\n', "requirements.txt": ""})
    run(tmp_path, request(dep("python", "rich", "13"), dep("python", "pytest", "8", dev=True)))
    data = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert data["project"]["dependencies"] == ["rich>=13"]
    assert data["project"]["optional-dependencies"]["dev"] == ["pytest>=8"]


def test_requirements_txt_dependency_is_bumped_or_appended(tmp_path: Path) -> None:
    write_tree(tmp_path, {"requirements.txt": "# pinned\nflask==2.0  # web\nclick\n"})
    run(tmp_path, request(dep("python", "flask", "==3.0"), dep("python", "rich", "13.1")))
    assert (tmp_path / "requirements.txt").read_text() == (
        "# pinned\nflask==3.0  # web\nclick\nrich>=13.1\n"
    )


def test_package_json_dependencies_keep_order_and_indentation(tmp_path: Path) -> None:
    original = {"name": "web", "dependencies": {"express": "^4.0.0"}, "license": "MIT"}
    write_tree(tmp_path, {"package.json": json.dumps(original, indent=4) + "\n"})
    run(
        tmp_path,
        request(dep("npm", "express", "^5.0.0"), dep("npm", "vitest", "^2.0.0", dev=True)),
    )
    text = (tmp_path / "package.json").read_text()
    assert text.startswith('{\n    "name": "web"') and text.endswith("}\n")
    assert list(json.loads(text)) == ["name", "dependencies", "license", "devDependencies"]
    assert json.loads(text)["dependencies"] == {"express": "^5.0.0"}
    assert json.loads(text)["devDependencies"] == {"vitest": "^2.0.0"}


def test_go_mod_require_block_is_bumped_or_extended(tmp_path: Path) -> None:
    gomod = (
        "module m\n\ngo 1.22\n\nrequire (\n\tgithub.com/a/b v1.0.0\n"
        "\tgolang.org/x/c v0.1.0 // indirect\n)\n"
    )
    write_tree(tmp_path, {"go.mod": gomod})
    run(
        tmp_path,
        request(dep("go", "golang.org/x/c", "0.2.0"), dep("go", "github.com/d/e", "v1.2.3")),
    )
    assert (tmp_path / "go.mod").read_text() == (
        "module m\n\ngo 1.22\n\nrequire (\n\tgithub.com/a/b v1.0.0\n"
        "\tgolang.org/x/c v0.2.0 // indirect\n\tgithub.com/d/e v1.2.3\n)\n"
    )


def test_go_mod_without_require_block_gets_a_require_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"go.mod": "module m\n\ngo 1.22\n"})
    run(tmp_path, request(dep("go", "github.com/d/e", "v1.0.0")))
    assert (tmp_path / "go.mod").read_text().endswith("\nrequire github.com/d/e v1.0.0\n")


def test_cargo_dependencies_are_bumped_or_added(tmp_path: Path) -> None:
    cargo = (
        '[package]\nname = "geo"\n\n[dependencies]\nserde = { version = "1.0", features = '
        '["derive"] }\nrand = "0.7"\n\n[profile.release]\nlto = true\n'
    )
    write_tree(tmp_path, {"Cargo.toml": cargo})
    run(
        tmp_path,
        request(
            dep("cargo", "serde", "1.0.200"),
            dep("cargo", "rand", "0.8"),
            dep("cargo", "anyhow", "1"),
            dep("cargo", "proptest", "1.4", dev=True),
        ),
    )
    data = tomllib.loads((tmp_path / "Cargo.toml").read_text())
    assert data["dependencies"] == {
        "serde": {"version": "1.0.200", "features": ["derive"]},
        "rand": "0.8",
        "anyhow": "1",
    }
    assert data["dev-dependencies"] == {"proptest": "1.4"}
    assert data["profile"]["release"] == {"lto": True}


def test_dependency_in_missing_manifest_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(GenerationFailed, match=r"manifest package.json for npm does not exist"):
        generate_one(tmp_path, dep("npm", "left-pad", "1"))


def test_pyproject_without_project_table_fails(tmp_path: Path) -> None:
    write_tree(tmp_path, {"pyproject.toml": "[tool.black]\nline-length = 88\n"})
    with pytest.raises(GenerationFailed, match=r"pyproject.toml has no \[project\] table"):
        generate_one(tmp_path, dep("python", "x", "1", manifest="pyproject.toml"))


def test_spec_engine_cannot_repair(tmp_path: Path) -> None:
    with pytest.raises(GenerationFailed, match=r"spec engine cannot repair"):
        engine.repair(request(), "FAILED test_x", FilesystemWorkspace(tmp_path), Budget())
