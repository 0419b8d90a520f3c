"""A user's test file imports the module it tests (`from lib import parse`, `import lib`); in the
sandbox that module is the candidate program, so those imports are made to give it.

The user's project is not in the sandbox, and the file under test must not be its copy on disk
anyway: the tests are to judge the body being written. Which imports mean the file under test: one
that imports the function being written (`from X import <entry point>`), or one naming a module
whose last part is the document's name (`import pkg.lib`, `from lib import helper`,
`from pkg import lib` for lib.py). The preamble that `with_module_aliases` puts before the test
file registers the candidate's names under those modules (and stub parent packages) in
`sys.modules`; the test file itself is left as the user wrote it.
"""

from __future__ import annotations

import ast

_ALIAS = "__guidecode_module__"  # a dunder: the copy of the candidate's names leaves it (and the runner's) out

_PREAMBLE = f'''def {_ALIAS}(names, *modules):
    import sys, types

    for name in modules:
        module = types.ModuleType(name)
        vars(module).update(names)
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


{_ALIAS}({{k: v for k, v in globals().items() if not (k.startswith("__") and k.endswith("__"))}}, {{modules}})
del {_ALIAS}
'''


def modules_under_test(test_file: str, entry_point: str, stem: str | None) -> tuple[str, ...]:
    """The dotted names `test_file` imports that mean the file under test, in order of first use.
    `stem` is that file's name without `.py` (None: unknown, e.g. read from stdin). Raises
    SyntaxError for a file that does not parse."""
    found: list[str] = []
    for node in ast.walk(ast.parse(test_file)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _last(node.module) == stem or any(alias.name == entry_point for alias in node.names):
                found.append(node.module)
            elif stem is not None and any(alias.name == stem for alias in node.names):
                found.append(f"{node.module}.{stem}")  # from pkg import lib
        elif isinstance(node, ast.Import) and stem is not None:
            found += [alias.name for alias in node.names if _last(alias.name) == stem]
    return tuple(dict.fromkeys(found))


def with_module_aliases(test_file: str, entry_point: str, stem: str | None) -> str:
    """`test_file`, preceded by the preamble making its imports of the file under test give the
    candidate program (unchanged when it has none)."""
    modules = modules_under_test(test_file, entry_point, stem)
    if not modules:
        return test_file
    return _PREAMBLE.replace("{modules}", ", ".join(repr(m) for m in modules)) + "\n\n" + test_file


def _last(dotted: str) -> str:
    return dotted.rpartition(".")[2]
