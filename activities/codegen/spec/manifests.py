"""Adding or bumping one dependency in the manifest of its ecosystem, as a text edit.

Manifests are edited line by line rather than re-serialised, so comments, ordering and
formatting survive; the result is parsed again to prove the edit landed.
"""

from __future__ import annotations

import json
import re
import tomllib

from domain.errors import GenerationFailed

_PEP508_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_OPERATORS = ("==", ">=", "<=", "~=", "!=", ">", "<", "===")


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def python_requirement(name: str, version: str) -> str:
    """`name>=1.2` for a bare version, `name==1.2` etc. when an operator is given."""
    spec = version.strip()
    if not spec.startswith(_OPERATORS):
        spec = f">={spec}"
    return f"{name}{spec}"


def _requirement_with_version(existing: str, name: str, version: str) -> str:
    """Replace the version part of a requirement, keeping its extras and markers."""
    req, sep, marker = existing.partition(";")
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?", req)
    extras = m.group(2) or "" if m else ""
    new = python_requirement(name + extras, version)
    return new + (f";{marker}" if sep else "")


def bump_requirements_txt(text: str, name: str, version: str) -> str:
    lines = text.splitlines()
    target = _pep503(name)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")):
            continue
        m = _PEP508_NAME.match(stripped)
        if m and _pep503(m.group(1)) == target:
            comment = ""
            if " #" in line:
                comment = "  #" + line.split(" #", 1)[1]
            body = stripped.split(" #", 1)[0].strip()
            lines[i] = _requirement_with_version(body, m.group(1), version) + comment
            return "\n".join(lines) + "\n"
    lines.append(python_requirement(name, version))
    return "\n".join(lines) + "\n"


def _table_span(lines: list[str], header: str) -> tuple[int, int] | None:
    """(index of the `[header]` line, index after the table's last line)."""
    start = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if start is None and stripped == f"[{header}]":
            start = i
        elif start is not None and stripped.startswith("["):
            return start, i
    return (start, len(lines)) if start is not None else None


def _array_end(lines: list[str], start: int) -> int:
    """Index of the line closing the TOML array opened on line `start` (strings skipped)."""
    depth = 0
    for n in range(start, len(lines)):
        quote = ""
        line = lines[n] if n > start else lines[n].split("=", 1)[1]
        for ch in line:
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    return n
    return len(lines) - 1


def _edit_toml_array(
    lines: list[str], span: tuple[int, int], key: str, name: str, version: str, path: str
) -> list[str] | None:
    """Update or append `name` in the array `key = [...]` of a table; None if key absent."""
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=\s*\[")
    for i in range(span[0] + 1, span[1]):
        if not key_re.match(lines[i]):
            continue
        end = _array_end(lines, i)
        block = "\n".join(lines[i : end + 1])
        target = _pep503(name)
        for m in re.finditer(r"\"([^\"]*)\"|'([^']*)'", block.split("=", 1)[1]):
            item = m.group(1) if m.group(1) is not None else m.group(2)
            quote = m.group(0)[0]
            nm = _PEP508_NAME.match(item)
            if nm and _pep503(nm.group(1)) == target:
                new_item = _requirement_with_version(item, nm.group(1), version)
                block = block.replace(m.group(0), f"{quote}{new_item}{quote}", 1)
                return lines[:i] + block.split("\n") + lines[end + 1 :]
        requirement = python_requirement(name, version)
        if end == i:
            # single-line array: insert before the closing bracket
            head, _, tail = lines[i].rpartition("]")
            inner = head.split("[", 1)[1].strip()
            sep = ", " if inner and not inner.endswith(",") else ""
            lines[i] = f'{head}{sep}"{requirement}"]{tail}'
            return lines
        indent_match = re.match(r"^(\s*)", lines[i + 1]) if i + 1 < end else None
        indent = indent_match.group(1) if indent_match else "    "
        prev = end - 1
        while prev > i and not lines[prev].strip():
            prev -= 1
        if prev > i and not lines[prev].rstrip().endswith(","):
            lines[prev] = lines[prev].rstrip() + ","
        return [*lines[:end], f'{indent}"{requirement}",', *lines[end:]]
    return None


def bump_pyproject(text: str, name: str, version: str, dev: bool, path: str) -> str:
    lines = text.splitlines()
    if dev:
        header, key = "project.optional-dependencies", "dev"
    else:
        header, key = "project", "dependencies"
    span = _table_span(lines, header)
    if span is None:
        if not dev:
            raise GenerationFailed(
                f"add_dependency: {path} has no [project] table to add {name} to"
            )
        lines += ["", f"[{header}]", f"{key} = ["]
        lines += [f'    "{python_requirement(name, version)}",', "]"]
        return "\n".join(lines) + "\n"
    edited = _edit_toml_array(lines, span, key, name, version, path)
    if edited is None:
        insert_at = span[0] + 1
        block = [f"{key} = [", f'    "{python_requirement(name, version)}",', "]"]
        edited = lines[:insert_at] + block + lines[insert_at:]
    return "\n".join(edited) + "\n"


def _json_indent(text: str) -> int | str:
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) != len(line):
            ws = line[: len(line) - len(stripped)]
            return "\t" if ws.startswith("\t") else len(ws)
    return 2


def bump_package_json(text: str, name: str, version: str, dev: bool, path: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenerationFailed(f"add_dependency: {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GenerationFailed(f"add_dependency: {path} is not a JSON object")
    section = "devDependencies" if dev else "dependencies"
    deps = data.setdefault(section, {})
    if not isinstance(deps, dict):
        raise GenerationFailed(f"add_dependency: {section} in {path} is not an object")
    deps[name] = version
    indent = _json_indent(text)
    out = json.dumps(data, indent=indent, ensure_ascii=False)
    return out + ("\n" if text.endswith("\n") else "")


def bump_go_mod(text: str, name: str, version: str) -> str:
    version = version if version.startswith("v") else f"v{version}"
    lines = text.splitlines()
    single = re.compile(rf"^require\s+{re.escape(name)}\s+\S+(.*)$")
    inner = re.compile(rf"^(\s+){re.escape(name)}\s+\S+(.*)$")
    in_block = False
    block_end = None
    for i, line in enumerate(lines):
        if line.startswith("require ("):
            in_block = True
            continue
        if in_block and line.strip() == ")":
            in_block = False
            block_end = block_end if block_end is not None else i
            continue
        m = single.match(line)
        if m:
            lines[i] = f"require {name} {version}{m.group(1)}"
            return "\n".join(lines) + "\n"
        m = inner.match(line) if in_block else None
        if m:
            lines[i] = f"{m.group(1)}{name} {version}{m.group(2)}"
            return "\n".join(lines) + "\n"
    if block_end is not None:
        lines.insert(block_end, f"\t{name} {version}")
    else:
        lines += ["", f"require {name} {version}"]
    return "\n".join(lines) + "\n"


def bump_cargo_toml(text: str, name: str, version: str, dev: bool, path: str) -> str:
    header = "dev-dependencies" if dev else "dependencies"
    lines = text.splitlines()
    span = _table_span(lines, header)
    if span is None:
        lines += ["", f"[{header}]", f'{name} = "{version}"']
        return "\n".join(lines) + "\n"
    key = re.compile(rf"^\s*{re.escape(name)}\s*=\s*(.*)$")
    for i in range(span[0] + 1, span[1]):
        m = key.match(lines[i])
        if not m:
            continue
        value = m.group(1)
        if value.lstrip().startswith("{"):
            if re.search(r"\bversion\s*=", value):
                value = re.sub(r'(\bversion\s*=\s*)"[^"]*"', rf'\g<1>"{version}"', value, count=1)
            else:
                value = value.replace("{", f'{{ version = "{version}",', 1)
            lines[i] = f"{name} = {value}"
        else:
            lines[i] = f'{name} = "{version}"'
        return "\n".join(lines) + "\n"
    end = span[1]
    while end > span[0] + 1 and not lines[end - 1].strip():
        end -= 1
    lines.insert(end, f'{name} = "{version}"')
    return "\n".join(lines) + "\n"


def verify_toml(text: str, path: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GenerationFailed(
            f"add_dependency: editing {path} produced invalid TOML ({exc}); "
            "edit it with replace_text or apply_diff instead"
        ) from None
