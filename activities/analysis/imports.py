"""Import statements of source files, resolved to repository files where possible.

Resolution is deliberately approximate (no build-tool configuration is evaluated): an import
that names a file of the repository becomes an edge, anything else is an external module.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Iterable

from activities.analysis.report import DependencyEdge, DependencyGraph

__all__ = ["DependencyGraph", "ImportResolver", "build_graph"]

_JS_IMPORT = re.compile(
    r"""(?:^|\s)(?:import\s+(?:[\w*{}\s,$]+\s+from\s+)?|export\s+[\w*{}\s,$]+\s+from\s+)['"]([^'"]+)['"]"""
    r"""|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)""",
    re.M,
)
_GO_IMPORT_BLOCK = re.compile(r"^import\s*\((.*?)^\)", re.M | re.S)
_GO_IMPORT_LINE = re.compile(r'^import\s+(?:[\w.]+\s+)?"([^"]+)"', re.M)
_GO_QUOTED = re.compile(r'"([^"]+)"')
_RUST_USE = re.compile(r"^\s*(?:pub\s+)?use\s+([\w:]+)", re.M)
_RUST_MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
_RUST_EXTERN = re.compile(r"^\s*extern\s+crate\s+(\w+)", re.M)
_JAVA_IMPORT = re.compile(r"^import\s+(?:static\s+)?([\w.]+?)(?:\.\*)?\s*;", re.M)


def python_imports(path: str, text: str) -> list[str]:
    """Absolute dotted module names imported by a Python file (relative imports resolved)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    package = posixpath.dirname(path).replace("/", ".")
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base_parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(p for p in base_parts if p)
                module = ".".join(p for p in (base, node.module or "") if p)
            else:
                module = node.module or ""
            if module:
                out.append(module)
                # `from pkg import mod` may name a submodule
                out.extend(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return out


def js_imports(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _JS_IMPORT.finditer(text)]


def go_imports(text: str) -> list[str]:
    out = [m.group(1) for m in _GO_IMPORT_LINE.finditer(text)]
    for block in _GO_IMPORT_BLOCK.finditer(text):
        out.extend(_GO_QUOTED.findall(block.group(1)))
    return out


def rust_imports(text: str) -> tuple[list[str], list[str]]:
    """(`use` paths and extern crates, `mod x;` declarations)."""
    uses = [m.group(1) for m in _RUST_USE.finditer(text)]
    uses += [m.group(1) for m in _RUST_EXTERN.finditer(text)]
    return uses, [m.group(1) for m in _RUST_MOD.finditer(text)]


def java_imports(text: str) -> list[str]:
    return [m.group(1) for m in _JAVA_IMPORT.finditer(text)]


class ImportResolver:
    """Turns raw imports into graph edges against the set of repository files."""

    _JS_EXTENSIONS = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")

    def __init__(self, paths: Iterable[str], go_module: str | None) -> None:
        self.paths = set(paths)
        self.go_module = go_module
        self.python_modules: dict[str, str] = {}
        self.go_packages: dict[str, str] = {}
        self.java_classes: dict[str, str] = {}
        self._py_roots: set[str] | None = None
        for p in self.paths:
            if p.endswith(".py"):
                mod = p[:-3].replace("/", ".")
                if mod.endswith(".__init__"):
                    mod = mod[: -len(".__init__")]
                self.python_modules[mod] = p
                # src-layout packages are imported without the `src.` prefix
                if mod.startswith("src."):
                    self.python_modules.setdefault(mod[4:], p)
            elif p.endswith(".go"):
                self.go_packages.setdefault(posixpath.dirname(p), p)
            elif p.endswith(".java") and "/java/" in f"/{p}":
                fq = p.split("/java/", 1)[-1] if "/java/" in p else p
                self.java_classes[fq[:-5].replace("/", ".")] = p

    def python(self, path: str, modules: list[str]) -> tuple[list[str], list[str]]:
        if self._py_roots is None:
            self._py_roots = {m.split(".")[0] for m in self.python_modules}
        internal: list[str] = []
        external: list[str] = []
        for mod in modules:
            target = self.python_modules.get(mod)
            if target:
                internal.append(target)
            elif mod.split(".")[0] not in self._py_roots:
                external.append(mod.split(".")[0])
        return internal, external

    def js(self, path: str, specs: list[str]) -> tuple[list[str], list[str]]:
        internal: list[str] = []
        external: list[str] = []
        for spec in specs:
            if spec.startswith("."):
                base = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
                found = next(
                    (
                        c
                        for c in [base + ext for ext in self._JS_EXTENSIONS]
                        + [f"{base}/index{ext}" for ext in self._JS_EXTENSIONS[1:]]
                        if c in self.paths
                    ),
                    None,
                )
                if found:
                    internal.append(found)
            else:
                parts = spec.split("/")
                external.append("/".join(parts[:2]) if spec.startswith("@") else parts[0])
        return internal, external

    def go(self, path: str, specs: list[str]) -> tuple[list[str], list[str]]:
        internal: list[str] = []
        external: list[str] = []
        for spec in specs:
            if self.go_module and (spec == self.go_module or spec.startswith(self.go_module + "/")):
                pkg_dir = spec[len(self.go_module) :].lstrip("/")
                target = self.go_packages.get(pkg_dir)
                if target:
                    internal.append(target)
            else:
                external.append(spec)
        return internal, external

    def rust(self, path: str, uses: list[str], mods: list[str]) -> tuple[list[str], list[str]]:
        internal: list[str] = []
        external: list[str] = []
        here = posixpath.dirname(path)
        own_dir = here if posixpath.basename(path) in ("lib.rs", "main.rs", "mod.rs") else path[:-3]
        for mod in mods:
            for cand in (f"{own_dir}/{mod}.rs", f"{own_dir}/{mod}/mod.rs"):
                if cand in self.paths:
                    internal.append(cand)
                    break
        for use in uses:
            head = use.split("::")[0]
            if head == "crate":
                segs = use.split("::")[1:]
                root = path.split("/src/")[0] + "/src" if "/src/" in path else "src"
                for n in range(len(segs), 0, -1):
                    base = posixpath.join(root, *segs[:n])
                    hit = next(
                        (c for c in (base + ".rs", base + "/mod.rs") if c in self.paths), None
                    )
                    if hit:
                        internal.append(hit)
                        break
            elif head not in ("self", "super", "std", "core", "alloc"):
                external.append(head)
        return internal, external

    def java(self, path: str, names: list[str]) -> tuple[list[str], list[str]]:
        internal: list[str] = []
        external: list[str] = []
        for name in names:
            target = self.java_classes.get(name)
            if target:
                internal.append(target)
            elif not name.startswith("java."):
                external.append(".".join(name.split(".")[:2]))
        return internal, external


def build_graph(
    nodes: list[str], internal: dict[str, list[str]], external: dict[str, list[str]]
) -> DependencyGraph:
    """Deterministic, de-duplicated graph from per-file import lists."""
    edges = sorted({(src, dst) for src, dsts in internal.items() for dst in dsts if dst != src})
    return DependencyGraph(
        nodes=sorted(nodes),
        edges=[DependencyEdge(source=s, target=t) for s, t in edges],
        external={k: sorted(set(v)) for k, v in sorted(external.items()) if v},
    )
