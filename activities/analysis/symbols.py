"""Top-level symbols of a source file: exact for Python (`ast`), regex approximations elsewhere.

The planner only needs to know roughly where things are defined, so for languages without a
parser in the standard library a line-anchored regex over top-level declarations is enough.
"""

from __future__ import annotations

import ast
import re

from activities.analysis.report import Symbol

_JS_ID = r"([A-Za-z_$][\w$]*)"
_RUST_VIS = (
    r"^(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:unsafe\s+)?(?:const\s+)?"
    r"(?:extern\s+\"[^\"]*\"\s+)?"
)
_RUST_ID = r"([A-Za-z_]\w*)"


def _compile(specs: list[tuple[str, str]]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(p, re.M), kind) for p, kind in specs]


_JS_PATTERNS = _compile(
    [
        (r"^export\s+(?:default\s+)?(?:async\s+)?function\*?\s+" + _JS_ID, "function"),
        (r"^(?:async\s+)?function\*?\s+" + _JS_ID, "function"),
        (r"^(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+" + _JS_ID, "class"),
        (r"^(?:export\s+)?(?:const|let|var)\s+" + _JS_ID, "variable"),
        (r"^(?:export\s+)?interface\s+" + _JS_ID, "interface"),
        (r"^(?:export\s+)?type\s+" + _JS_ID + r"\s*(?:<[^>]*>)?\s*=", "type"),
        (r"^(?:export\s+)?(?:const\s+)?enum\s+" + _JS_ID, "enum"),
    ]
)
_GO_PATTERNS = _compile(
    [
        (r"^func\s+\([^)]*\)\s*([A-Za-z_]\w*)", "method"),
        (r"^func\s+([A-Za-z_]\w*)", "function"),
        (r"^type\s+([A-Za-z_]\w*)\s+struct\b", "struct"),
        (r"^type\s+([A-Za-z_]\w*)\s+interface\b", "interface"),
        (r"^type\s+([A-Za-z_]\w*)\s+(?!struct\b|interface\b)\S", "type"),
        (r"^(?:var|const)\s+([A-Za-z_]\w*)", "variable"),
    ]
)
_RUST_PATTERNS = _compile(
    [
        (_RUST_VIS + r"fn\s+" + _RUST_ID, "function"),
        (_RUST_VIS + r"struct\s+" + _RUST_ID, "struct"),
        (_RUST_VIS + r"enum\s+" + _RUST_ID, "enum"),
        (_RUST_VIS + r"trait\s+" + _RUST_ID, "trait"),
        (_RUST_VIS + r"mod\s+" + _RUST_ID, "module"),
        (_RUST_VIS + r"type\s+" + _RUST_ID, "type"),
        (
            r"^(?:pub(?:\([^)]*\))?\s+)?(?:const|static)\s+(?:mut\s+)?" + _RUST_ID + r"\s*:",
            "constant",
        ),
        (r"^impl(?:<[^>]*>)?\s+(?:[\w:<>, ]+\s+for\s+)?" + _RUST_ID, "impl"),
    ]
)
_JAVA_DECL = re.compile(
    r"^(?:(?:public|protected|private|abstract|final|static|sealed|non-sealed)\s+)*"
    r"(class|interface|enum|record|@interface)\s+([A-Za-z_]\w*)",
    re.M,
)

_PATTERNS = {
    "JavaScript": _JS_PATTERNS,
    "TypeScript": _JS_PATTERNS,
    "Go": _GO_PATTERNS,
    "Rust": _RUST_PATTERNS,
}


def _python_symbols(text: str) -> list[Symbol]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out: list[Symbol] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append(Symbol(name=node.name, kind="function", line=node.lineno))
        elif isinstance(node, ast.ClassDef):
            out.append(Symbol(name=node.name, kind="class", line=node.lineno))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.append(Symbol(name=target.id, kind="variable", line=node.lineno))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.append(Symbol(name=node.target.id, kind="variable", line=node.lineno))
    return out


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _regex_symbols(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> list[Symbol]:
    seen: set[tuple[str, int]] = set()
    out: list[Symbol] = []
    for pattern, kind in patterns:
        for m in pattern.finditer(text):
            line = _line_of(text, m.start())
            name = m.group(m.lastindex or 1)
            if (name, line) in seen:
                continue
            seen.add((name, line))
            out.append(Symbol(name=name, kind=kind, line=line))
    out.sort(key=lambda s: s.line)
    return out


def _java_symbols(text: str) -> list[Symbol]:
    return [
        Symbol(name=m.group(2), kind=m.group(1).lstrip("@"), line=_line_of(text, m.start()))
        for m in _JAVA_DECL.finditer(text)
    ]


def top_level_symbols(language: str, text: str, limit: int) -> list[Symbol]:
    """Top-level definitions of `text` written in `language`, at most `limit` of them."""
    if language == "Python":
        symbols = _python_symbols(text)
    elif language in ("Java", "Kotlin"):
        symbols = _java_symbols(text)
    elif language in _PATTERNS:
        symbols = _regex_symbols(text, _PATTERNS[language])
    else:
        return []
    return symbols[:limit]
