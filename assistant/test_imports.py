"""A user's test file imports the module it tests (`from lib import parse`, `import lib`); in the
sandbox that module is the candidate program, so those imports are made to give it.

The user's project is not in the sandbox, and the file under test must not be its copy on disk
anyway: the tests are to judge the body being written. Which imports mean the file under test: one
that imports the function being written (`from X import <entry point>`), or one naming a module
whose last part is the document's name (`import pkg.lib`, `from lib import helper`,
`from pkg import lib` for lib.py). The preamble that `with_module_aliases` puts before the test
file registers the candidate's names under those modules (and stub parent packages) in
`sys.modules`; the test file itself is left as the user wrote it.

Relative imports (`from .lib import f`, `from . import lib`, `from ..src.lib import f`): the test
file runs as a module of a stand-in package (`PACKAGE`, nested as deep as its deepest relative
import), so they resolve, and those meaning the file under test give the candidate as above.
"""

from __future__ import annotations

import ast
import re

PACKAGE = "__guidecode_tests__"  # the stand-in package a test file with relative imports runs in
_ALIAS = "__guidecode_module__"  # a dunder: the copy of the candidate's names leaves it (and the runner's) out

_PREAMBLE = f"""def {_ALIAS}(names, modules, packages):
    import sys, types

    def put(name, module):  # and stub parent packages up to the top
        while True:
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if not parent:
                break
            package = sys.modules.get(parent) or types.ModuleType(parent)
            if not hasattr(package, "__path__"):
                package.__path__ = []
            setattr(package, child, module)
            name, module = parent, package

    for name in packages:
        package = types.ModuleType(name)
        package.__path__ = []
        put(name, package)
    for name in modules:
        module = types.ModuleType(name)
        vars(module).update(names)
        put(name, module)


{_ALIAS}({{k: v for k, v in globals().items() if not (k.startswith("__") and k.endswith("__"))}}, {{modules}}, {{packages}})
del {_ALIAS}
"""


def modules_under_test(test_file: str, entry_point: str, stem: str | None) -> tuple[str, ...]:
    """The dotted names `test_file` imports that mean the file under test, in order of first use
    (a relative import's resolved in the stand-in package). `stem` is that file's name without
    `.py` (None: unknown, e.g. read from stdin). Raises SyntaxError for a file that does not parse."""
    return _modules(ast.parse(test_file), entry_point, stem)


def _modules(tree: ast.Module, entry_point: str, stem: str | None) -> tuple[str, ...]:
    package = _package(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += _from_import(node, package, entry_point, stem)
        elif isinstance(node, ast.Import) and stem is not None:
            found += [alias.name for alias in node.names if _last(alias.name) == stem]
    return tuple(dict.fromkeys(found))


def _from_import(node: ast.ImportFrom, package: str, entry_point: str, stem: str | None) -> list[str]:
    base = package.rsplit(".", node.level - 1)[0] if node.level else ""  # `from ..x`: two levels up from the package
    module = ".".join(part for part in (base, node.module) if part)
    if node.module and (_last(node.module) == stem or any(alias.name == entry_point for alias in node.names)):
        return [module]
    if stem is not None and any(alias.name == stem for alias in node.names):
        return [f"{module}.{stem}"]  # from pkg import lib; from . import lib
    return []


def _package(tree: ast.Module) -> str:
    """The stand-in package a test file runs in: deep enough for its deepest relative import
    ("" when it has none: it then runs as before, a top-level script)."""
    depth = max((n.level for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)), default=0)
    return ".".join([PACKAGE] + [f"level{i}" for i in range(1, depth)]) if depth else ""


def with_module_aliases(test_file: str, entry_point: str, stem: str | None) -> str:
    """`test_file`, preceded by the preamble making its imports of the file under test give the
    candidate program, and its relative imports resolve (unchanged when it has neither)."""
    tree = ast.parse(test_file)
    modules, package = _modules(tree, entry_point, stem), _package(tree)
    if not modules and not package:
        return test_file
    preamble = _PREAMBLE.replace("{modules}", repr(modules)).replace("{packages}", repr((package,) if package else ()))
    if package:  # what relative imports resolve from (the runner runs the tests as a top-level script)
        preamble = f"__package__ = {package!r}\n" + preamble
    return preamble + "\n\n" + test_file


def shown_module(text: str) -> str:
    """`text` (an error) with the stand-in package's modules written relative, as the test file
    imports them: "No module named '.helpers'"."""
    return re.sub(rf"{PACKAGE}(\.level\d+)*\.?", ".", text)


def _last(dotted: str) -> str:
    return dotted.rpartition(".")[2]
