"""Static review: flag constructs in an answer cell that no honest answer needs.

Student code runs in a worker it fully controls, so whatever that process observes about itself
(the forbidden-call monitor, its own reports) can in principle be forged. This review is a second,
independent line of defence that runs in the trusted parent: it reads the *source* of each answer
cell (never runs it) and lists the lines that reach for threads, processes, frames, the grader's
files or PyTorch's internals. A flagged exercise keeps its points but is *held for review*: an
instructor looks at it before the score counts.

The rules are one table, :data:`RULES`: what is flagged, how it is matched, why, and any exemption
made for honest code (with its reason). Matching is by name, after resolving import aliases across
the cells in notebook order (``import threading as t; t.Thread`` is ``threading.Thread``; so is
``from threading import Thread``).

A review can be evaded by a determined author (names built at run time are what
``dynamic_attribute`` and ``dynamic_code`` are for, but static analysis is never complete). It
only has to make forging costly and visible; the sandbox and the out-of-process verdicts stay the
first line.
"""

from __future__ import annotations

import ast
import builtins as _builtins_module
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

MAX_TEXT = 120
_MAGIC = re.compile(r"^\s*[%!]")  # as autograder.worker.strip_magics: the worker runs `pass` there
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_GRADER_PATH = re.compile(r"(?<![\w.~-])/(job|proc|scratch|dev/fd|dev/std(in|out|err))(?![\w.-])")
# Modules every answer cell can use without importing them (the chapter prelude and the setup
# cells import them): a bare ``torch`` is the module even where the cell never imports it.
AMBIENT = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "math": "math"}
_BUILTINS = frozenset(dir(_builtins_module))  # always the builtin: a local binding may never run


def _os(*names: str) -> tuple[str, ...]:
    """``os`` functions, also under the names of the module that implements them."""
    return tuple(f"{m}.{n}" for n in names for m in ("os", "posix", "nt"))


@dataclass(frozen=True, kw_only=True)
class Rule:
    id: str
    why: str  # shown to the instructor: what the construct does, and why an answer has no need
    names: tuple[str, ...] = ()  # dotted names: imported, called or referenced (``*`` globs a part)
    attributes: tuple[str, ...] = ()  # attribute names, on any object (``x.f_back``)
    special: str = ""  # a matcher in _SPECIAL, for what names alone cannot say
    exempt: str = ""  # honest code this rule lets through, and why


RULES: tuple[Rule, ...] = (
    Rule(id="thread", names=("threading", "_thread", "concurrent.futures", "asyncio"),
         why="starts a thread: code graded by llmcourse must run in the calling thread, where "
             "the grader watches it"),
    Rule(id="process",
         names=("multiprocessing", "torch.multiprocessing", "subprocess", "_posixsubprocess",
                "pty", *_os("fork", "forkpty", "spawn*", "system", "popen", "exec*",
                            "posix_spawn*", "register_at_fork")),
         special="dataloader_workers",
         why="starts or replaces a process: an answer computes its result in the process that "
             "called it",
         exempt="a DataLoader with num_workers=0 (the default) loads in the calling process"),
    Rule(id="signal", names=("signal", "faulthandler", "atexit", *_os("kill", "killpg", "_exit")),
         why="handles, sends or outlives signals and exits: the grader owns the process's life"),
    Rule(id="native_code", names=("ctypes", "_ctypes", "cffi"),
         why="loads native code or writes raw memory, beneath anything the grader can check"),
    Rule(id="sys_modules", names=("sys.modules",),
         why="reaches into the interpreter's table of loaded modules, the grader's included; an "
             "answer uses what it imports"),
    Rule(id="sys_argv", names=("sys.argv", "sys.orig_argv"),
         why="reads the grader's command line, which is none of an answer's business"),
    Rule(id="frames",
         names=("sys._getframe", "sys._current_frames", "inspect.currentframe", "inspect.stack",
                "inspect.trace", "inspect.getouterframes", "inspect.getinnerframes",
                "traceback.walk_stack", "traceback.walk_tb"),
         attributes=("f_back", "f_globals", "f_locals", "f_builtins", "gi_frame", "cr_frame",
                     "ag_frame", "tb_frame"),
         why="inspects stack frames: the frames above an answer belong to the grader"),
    Rule(id="tracing",
         names=("sys.settrace", "sys.setprofile", "sys.monitoring", "sys.addaudithook"),
         why="installs a tracer, profiler or audit hook, which would watch or alter the grader's "
             "own code"),
    Rule(id="gc", names=("gc",),
         why="uses the garbage collector, which hands out every live object, the grader's "
             "included"),
    Rule(id="main_module", names=("__main__",), special="main_string",
         why="reaches the grader's __main__ module",
         exempt="the script idiom `if __name__ == \"__main__\":` only compares a name"),
    Rule(id="dynamic_code", names=("exec", "eval", "compile", "__import__", "breakpoint"),
         why="runs code built from strings, which this review cannot read: write the code out"),
    Rule(id="namespace", special="namespace_dict",
         why="takes the notebook's namespace as a dictionary (globals(), locals(), vars()): "
             "define names with def and =, not through the dictionary",
         exempt="a membership test such as `'x' in globals()` only reads whether a name exists"),
    Rule(id="dynamic_attribute", special="dynamic_attribute",
         why="gets or sets an attribute whose name is computed at run time, which this review "
             "cannot read: write the attribute out",
         exempt="a name that is a loop variable over a literal tuple of strings (`for n in "
                "('q_proj', 'k_proj'): getattr(self, n)`: every possible name is on the page); "
                "`getattr(torch, config.dtype)`, a dtype looked up by its configured name, as "
                "training loops do"),
    Rule(id="import_machinery",
         names=("importlib", "imp", "pkgutil", "zipimport", "sys.meta_path", "sys.path_hooks",
                "sys.path_importer_cache"),
         why="changes or bypasses how modules are imported; an answer imports with `import`"),
    Rule(id="torch_internals",
         names=("torch._C", "torch.ops", "torch.utils._python_dispatch", "torch.overrides",
                "torch.library", "torch._dynamo.disable"),
         attributes=("__torch_function__", "__torch_dispatch__"),
         why="reaches PyTorch's dispatcher or C bindings, beneath the calls the grader checks; an "
             "answer uses PyTorch's public operations"),
    Rule(id="profiler",
         names=("*.record_function", "record_function", "torch.profiler",
                "torch.autograd.profiler", "torch.autograd._*profiler*"),
         why="drives PyTorch's profiler, which the grader uses to see which operations ran"),
    Rule(id="builtins", names=("builtins", "__builtin__", "__builtins__"),
         attributes=("__builtins__",),
         why="reaches Python's builtins module, shared by every cell and by the grader"),
    Rule(id="grader_code", names=("wire", "worker", "nospawn", "gradelib", "autograder",
                                  "reference"),
         why="imports the grader's own code (its wire format, worker, grading library or "
             "reference), which an answer never needs"),
    Rule(id="grader_path", special="grader_path_string",
         why="names a path of the grading sandbox (/job, /proc, /dev/fd, /scratch): the job file, "
             "process information and raw file descriptors are the grader's"),
    Rule(id="raw_fd",
         names=_os("write", "writev", "pwrite", "pwritev", "sendfile", "read", "pread", "dup",
                   "dup2", "fdopen", "open", "openpty"),
         special="open_fd",
         why="reads or writes a raw file descriptor, one of which carries the grader's results"),
    Rule(id="introspection",
         attributes=("__subclasses__", "__globals__", "__code__", "__closure__"),
         why="classic sandbox-escape introspection: it reaches objects (other classes, a "
             "function's globals or code) the answer was never given"),
    Rule(id="monkeypatch", special="module_assignment",
         why="assigns to an attribute of a library module (torch.softmax = ...), which changes it "
             "for the grader too; an answer defines its own names"),
)
UNREVIEWABLE = Rule(id="unreviewable", why="the cell is too deeply nested to review; the "
                    "instructor reads it instead")


@dataclass(frozen=True, kw_only=True)
class Finding:
    rule: str
    line: int
    text: str  # the flagged source line, stripped, made safe to show
    why: str

    def describe(self) -> str:
        return f"line {self.line}: `{self.text}` — {self.why}"


# --------------------------------------------------------------------------- name resolution
def _name_matches(name: str, pattern: str) -> bool:
    """``threading.Thread`` matches ``threading``; ``os.spawnv`` matches ``os.spawn*``."""
    parts, want = name.split("."), pattern.split(".")
    if pattern.startswith("*."):  # any module's attribute of that name
        return any(fnmatchcase(p, want[1]) for p in parts[1:])
    return len(parts) >= len(want) and all(fnmatchcase(p, w) for p, w in zip(parts, want))


def _dotted(node: ast.AST) -> tuple[str, list[str]] | None:
    """``a.b.c`` → ("a", ["b", "c"]); None when the chain does not start at a plain name."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attrs[::-1]
    return None


class _Names:
    """What the names of a notebook's answer cells can mean, all cells together (a function in
    one cell may use a module that a later cell imports).

    A name bound by an import means the imported module (``import threading as t``: ``t`` is
    ``threading``); so does a name assigned a plain name chain (``t = threading``). A prelude
    module (:data:`AMBIENT`) or a builtin is itself wherever it appears. Any other name bound in
    the cells (a parameter, a variable, a def) is local and means nothing here; a free name is
    itself."""

    def __init__(self, trees: list[ast.Module]):
        self.aliases: dict[str, set[str]] = {}
        self.roots: set[str] = set(AMBIENT.values())  # modules imported somewhere
        self.local: set[str] = set()
        # name -> the strings of `for name in ("a", "b")`, for names bound in no other way
        self.literal_loops: dict[str, set[str]] = {}
        loop_targets: set[int] = set()
        assignments = []
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, (ast.For, ast.comprehension)):
                    strings = _literal_strings(node.iter)
                    if isinstance(node.target, ast.Name) and strings is not None:
                        self.literal_loops.setdefault(node.target.id, set()).update(strings)
                        loop_targets.add(id(node.target))
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        name = a.asname or a.name.split(".")[0]
                        self.aliases.setdefault(name, set()).add(a.asname and a.name or name)
                        self.literal_loops.pop(name, None)
                        self.roots.add(a.name.split(".")[0])
                elif isinstance(node, ast.ImportFrom):
                    module = "." * node.level + (node.module or "")
                    self.roots.add(module.split(".")[0] or module)
                    for a in node.names:
                        if a.name != "*":
                            self.aliases.setdefault(a.asname or a.name, set()).add(
                                f"{module}.{a.name}")
                            self.literal_loops.pop(a.asname or a.name, None)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    self.local.add(node.id)
                    if id(node) not in loop_targets:
                        self.literal_loops.pop(node.id, None)
                elif isinstance(node, ast.arg):
                    self.local.add(node.arg)
                    self.literal_loops.pop(node.arg, None)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                       ast.ExceptHandler)) and node.name:
                    self.local.add(node.name)
                    self.literal_loops.pop(node.name, None)
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                    targets = getattr(node, "targets", None) or [node.target]
                    if len(targets) == 1 and isinstance(targets[0], ast.Name) and node.value:
                        assignments.append((targets[0].id, node.value))
        for _ in range(2):  # `a = os; b = a` in any order
            for name, value in assignments:
                for meaning in self.resolve(value):
                    self.aliases.setdefault(name, set()).add(meaning)

    def resolve(self, node: ast.AST) -> set[str]:
        """The dotted names an expression can mean (empty when it is not a plain name chain)."""
        chain = _dotted(node)
        if chain is None:
            return set()
        base, attrs = chain
        if base in self.aliases:
            bases = self.aliases[base] | ({AMBIENT[base]} if base in AMBIENT else set())
        elif base in AMBIENT:
            bases = {AMBIENT[base]}
        elif base in _BUILTINS or base not in self.local:
            bases = {base}
        else:
            return set()
        return {".".join([b, *attrs]) for b in bases}

    def is_module(self, node: ast.AST) -> bool:
        """Does the expression name an imported module (or something in one)?"""
        meanings = self.resolve(node)
        return bool(meanings) and all(m.split(".")[0] in self.roots for m in meanings)


class _Cell:
    """One cell's tree, with parents."""

    def __init__(self, tree: ast.Module, names: _Names):
        self.resolve, self.is_module = names.resolve, names.is_module
        self.literal_loops = names.literal_loops
        self.parent: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parent[id(child)] = node

    def line_of(self, node: ast.AST) -> int:
        return getattr(node, "lineno", None) or self.line_of(self.parent[id(node)])


def _literal_strings(node: ast.AST) -> list[str] | None:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]
    return None


def _constant_names(cell: _Cell, node: ast.AST) -> list[str] | None:
    """The attribute names an argument can be, when they are all on the page."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in cell.literal_loops:
        return sorted(cell.literal_loops[node.id])
    return None


# --------------------------------------------------------------------------- special matchers
_DUNDER_ACCESS = ("__getattribute__", "__getattr__", "__setattr__", "__delattr__")
_ATTRIBUTE_CALLS = {"getattr": 1, "setattr": 1, "delattr": 1, "hasattr": None,
                    "operator.attrgetter": 0}


def _dataloader_workers(cell: _Cell, node: ast.AST):
    if isinstance(node, ast.Call) and any(n.split(".")[-1] == "DataLoader"
                                          for n in cell.resolve(node.func)):
        for kw in node.keywords:
            if kw.arg == "num_workers" and not (isinstance(kw.value, ast.Constant)
                                                and kw.value.value == 0):
                yield node


def _main_string(cell: _Cell, node: ast.AST):
    if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            and "__main__" in node.value:
        parent = cell.parent.get(id(node))
        idiom = (isinstance(parent, ast.Compare) and len(parent.ops) == 1
                 and isinstance(parent.ops[0], (ast.Eq, ast.NotEq))
                 and all(isinstance(x, ast.Name) and x.id == "__name__" or x is node
                         for x in (parent.left, *parent.comparators)))
        if not idiom:
            yield node


def _namespace_dict(cell: _Cell, node: ast.AST):
    if isinstance(node, ast.Call) and not node.args and not node.keywords \
            and cell.resolve(node.func) & {"globals", "locals", "vars"}:
        parent = cell.parent.get(id(node))
        membership = (isinstance(parent, ast.Compare) and node in parent.comparators
                      and all(isinstance(op, (ast.In, ast.NotIn)) for op in parent.ops))
        if not membership:
            yield node


def _dynamic_attribute(cell: _Cell, node: ast.AST):
    if not isinstance(node, ast.Call):
        return
    meanings = cell.resolve(node.func)
    if isinstance(node.func, ast.Attribute) and node.func.attr in _DUNDER_ACCESS:
        # obj.__getattribute__(name) or object.__setattr__(obj, name, v): a name on the page
        args = [a for a in node.args if not isinstance(a, ast.Name) or a.id != "self"]
        named = [a for a in args[:2] if _constant_names(cell, a) is not None]
        if not named:
            yield node
        return
    for meaning, at in _ATTRIBUTE_CALLS.items():
        if meaning not in meanings or at is None:
            continue
        names = node.args[at:] if meaning == "operator.attrgetter" else node.args[at:at + 1]
        for arg in names:
            if _constant_names(cell, arg) is None and not _dtype_lookup(cell, node, arg):
                yield node


def _dtype_lookup(cell: _Cell, call: ast.Call, arg: ast.AST) -> bool:
    """``getattr(torch, config.dtype)``: a dtype from its configured name."""
    return ("getattr" in cell.resolve(call.func) and cell.resolve(call.args[0]) == {"torch"}
            and isinstance(arg, ast.Attribute) and arg.attr == "dtype")


def _grader_path_string(cell: _Cell, node: ast.AST):
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
        if _GRADER_PATH.search(text):
            yield node


def _open_fd(cell: _Cell, node: ast.AST):
    """``open(1, "w")``, ``io.open(fd)``, ``io.FileIO(sys.stdout.fileno())``."""
    if isinstance(node, ast.Call) and node.args and cell.resolve(node.func) & {
            "open", "io.open", "io.FileIO", "_io.open", "_io.FileIO"}:
        first = node.args[0]
        if isinstance(first, ast.Constant) and type(first.value) is int or (
                isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
                and first.func.attr == "fileno"):
            yield node


def _module_assignment(cell: _Cell, node: ast.AST):
    """``torch.softmax = f``, ``del F.gelu``, ``setattr(torch, "softmax", f)``."""
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)) \
            and cell.is_module(node.value):
        yield node
    if isinstance(node, ast.Call) and cell.resolve(node.func) & {"setattr", "delattr"} \
            and node.args and cell.is_module(node.args[0]):
        yield node


_SPECIAL = {"dataloader_workers": _dataloader_workers, "main_string": _main_string,
            "namespace_dict": _namespace_dict, "dynamic_attribute": _dynamic_attribute,
            "grader_path_string": _grader_path_string, "open_fd": _open_fd,
            "module_assignment": _module_assignment}
assert {r.special for r in RULES if r.special} <= set(_SPECIAL), "a rule names no matcher"


# --------------------------------------------------------------------------- the review
def _used_names(cell: _Cell, node: ast.AST) -> set[str]:
    """The dotted names a node imports or refers to (including ``getattr(os, "fork")``)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        return {module if a.name == "*" else f"{module}.{a.name}" for a in node.names} | {module}
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
        return cell.resolve(node)
    if isinstance(node, ast.Attribute):
        return cell.resolve(node)
    if isinstance(node, ast.Call) and len(node.args) >= 2 \
            and cell.resolve(node.func) & {"getattr", "setattr", "delattr", "hasattr"}:
        names = _constant_names(cell, node.args[1]) or []
        return {f"{base}.{n}" for base in cell.resolve(node.args[0]) for n in names}
    return set()


def _used_attributes(cell: _Cell, node: ast.AST) -> set[str]:
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}  # def __torch_function__(...) in a class
    if isinstance(node, ast.Call) and len(node.args) >= 2 \
            and cell.resolve(node.func) & {"getattr", "setattr", "delattr", "hasattr"}:
        return set(_constant_names(cell, node.args[1]) or [])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in _DUNDER_ACCESS:  # x.__getattribute__("__globals__")
        return {n for a in node.args[:2] for n in _constant_names(cell, a) or []}
    return set()


def _rule_hits(cell: _Cell, node: ast.AST):
    names = _used_names(cell, node)
    attributes = _used_attributes(cell, node)
    star = {a.name for a in getattr(node, "names", [])} == {"*"}
    for rule in RULES:
        hit = any(_name_matches(n, p) for n in names for p in rule.names)
        if star and not hit:  # `from os import *`: imports whatever a rule names in os
            hit = any(p.startswith(f"{node.module}.") for p in rule.names)
        hit = hit or bool(attributes & set(rule.attributes))
        if hit:
            yield rule, node
        elif rule.special:
            for flagged in _SPECIAL[rule.special](cell, node):
                yield rule, flagged


def strip_magics(source: str) -> str:
    """The code the worker runs: IPython magic and shell lines become ``pass``."""
    return "\n".join("pass  # (magic removed)" if _MAGIC.match(line) else line
                     for line in source.splitlines())


def _show(line: str) -> str:
    line = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line.strip())
    return line if len(line) <= MAX_TEXT else line[:MAX_TEXT] + " …"


def _parse(source: str):
    """(the code the worker runs, its tree); tree None when it does not parse (the grader reports
    the syntax error and nothing of it runs), the exception when it is too deep to parse here."""
    code = strip_magics(source)
    try:
        return code, ast.parse(code)
    except (SyntaxError, ValueError):
        return code, None
    except (RecursionError, MemoryError) as e:
        return code, e


def _review(code: str, tree, names: _Names) -> list[Finding]:
    lines = code.split("\n")
    if isinstance(tree, Exception):
        return [Finding(rule=UNREVIEWABLE.id, line=1, text=_show(lines[0]), why=UNREVIEWABLE.why)]
    if tree is None:
        return []
    cell = _Cell(tree, names)
    order = {r.id: i for i, r in enumerate(RULES)}
    found: dict[tuple[int, str], Finding] = {}
    for node in ast.walk(tree):
        for rule, flagged in _rule_hits(cell, node):
            line = cell.line_of(flagged)
            text = _show(lines[line - 1]) if 0 < line <= len(lines) else ""
            found.setdefault((line, rule.id),
                             Finding(rule=rule.id, line=line, text=text, why=rule.why))
    return sorted(found.values(), key=lambda f: (f.line, order[f.rule]))


def review_cells(sources: list[str]) -> list[list[Finding]]:
    """Each cell's findings, in line order, for cells run in one namespace (an import in one
    cell gives its alias a meaning in all of them)."""
    parsed = [_parse(s) for s in sources]
    names = _Names([t for _, t in parsed if isinstance(t, ast.Module)])
    return [_review(code, tree, names) for code, tree in parsed]


def review_source(source: str) -> list[Finding]:
    """The flagged lines of one cell's source, in line order (none when it does not parse)."""
    return review_cells([source])[0]


def review_submission(sub) -> dict[str, list[Finding]]:
    """Exercise id → the findings in the answer cells meant for it (``sub`` is an
    :class:`autograder.submission.Submission`)."""
    per_cell = review_cells([c["source"] for c in sub.cells])
    return {ex_id: [f for i in indices for f in per_cell[i]]
            for ex_id, indices in sub.exercise_cells.items()}
