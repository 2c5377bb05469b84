"""The package has no import cycles: every module imports on its own, the graph of the grader's
imports between its own modules is acyclic, and imports sit at the top of modules (a
function-level import is allowed only where the dependency is optional)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("autograder", "reference")
# module -> modules it may import inside a function: those needing an optional extra
OPTIONAL = {
    "autograder.chapters.ch07_efficiency": {"reference.triton_flash"},  # triton
}


def _modules() -> list[str]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


class _ImportFinder(ast.NodeVisitor):
    """Imports of our own packages, split by whether they sit inside a function."""

    def __init__(self):
        self.top: set[str] = set()
        self.nested: set[str] = set()
        self.depth = 0

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def _add(self, targets):
        (self.nested if self.depth else self.top).update(t for t in targets if t in MODULES)

    def visit_Import(self, node):
        self._add(a.name for a in node.names if a.name.split(".")[0] in PACKAGES)

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        if node.module in PACKAGES:
            self._add(f"{node.module}.{a.name}" for a in node.names)
        elif node.module.split(".")[0] in PACKAGES:
            self._add([node.module])


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(top-level, function-level) imports of our own packages by ``module``."""
    base = ROOT.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    finder = _ImportFinder()
    finder.visit(ast.parse(path.read_text()))
    return finder.top, finder.nested


MODULES = _modules()


def test_every_module_imports_on_its_own():
    """Each module imported first, in a process where none of ours is loaded yet (a cycle shows
    as an ImportError on a partially initialised module, depending on which module comes first)."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {MODULES!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('autograder', 'reference')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as e:\n"
        "        if 'nbgrader' in str(e) or 'otter' in str(e) or 'yaml' in str(e):\n"
        "            continue  # an optional extra that is not installed\n"
        "        failed.append(f'{name}: {e!r}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_no_import_cycles():
    graph = {m: _imports(m)[0] for m in MODULES}
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            cycle = path[path.index(m):] + [m]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if state.get(m) == 2:
            return
        state[m] = 1
        for dep in sorted(graph.get(m, ())):
            if dep != m and not m.startswith(dep + "."):  # a package importing its own parts
                visit(dep, path + [m])
        state[m] = 2

    for m in MODULES:
        visit(m, [])


# The command line imports what each command needs inside that command, so that the commands
# that only list or locate (--help, chapters, start) answer at once without PyTorch. It can hide
# no cycle: no module of ours imports it.
LAZY = {"autograder.cli"}


@pytest.mark.parametrize("module", MODULES)
def test_imports_are_at_the_top_unless_optional(module):
    if module in LAZY:
        assert not any(module in _imports(m)[0] | _imports(m)[1] for m in MODULES if m != module)
        return
    nested = _imports(module)[1] - OPTIONAL.get(module, set())
    assert not nested, f"{module} imports {sorted(nested)} inside a function"


def test_reading_notebooks_compiles_no_iri_grammars():
    """After ``import autograder``, jsonschema (under nbformat) does not load ``rfc3987_syntax``
    (1.5 s of grammar compiling per process); nbformat still validates notebooks."""
    script = ("import sys, autograder, nbformat\n"
              "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
              "nbformat.validate(nb)\n"
              "print(sys.modules.get('rfc3987_syntax', 'absent'))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() in ("None", "absent")
