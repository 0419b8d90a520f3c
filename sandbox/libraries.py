"""The libraries a run may import besides its interpreter's own: pytest and what it needs, so that
a pytest-style test file (`import pytest`, `pytest.raises`, `@pytest.mark.parametrize`) runs.

They are copied from guidecode's own environment, when pytest is installed there, into the
runner's directory (`lib/`, put on the path after the standard library of the runs that `wanted`): the
environment itself may sit where a run's own uid cannot read, and nothing else of it (torch, the
model's packages) should reach a program. Copies keep their timestamps, so the environment's
compiled `__pycache__` files stay valid and `import pytest` does not compile it on every run.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

SHARED = ("pytest",)  # distributions given to runs, with their requirements


def wanted(source: str) -> bool:
    """Whether a run gets the libraries: when its program or tests name pytest. Decided by the
    run's own text, so that what a program can import never depends on earlier runs."""
    return "pytest" in source


def copy_into(directory: Path) -> tuple[str, ...]:
    """Copies the shared distributions and what they require (on this Python) into `directory`;
    returns their names, () when pytest is not installed here."""
    names = _closure(SHARED)
    for name in names:
        _copy(metadata.distribution(name), directory)
    return names


def _closure(roots: tuple[str, ...]) -> tuple[str, ...]:
    from packaging.requirements import Requirement  # a requirement of pytest's: present with it

    found: dict[str, None] = {}
    todo = [name for name in roots if _installed(name)]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = None
        for text in metadata.distribution(name).requires or ():
            requirement = Requirement(text)
            wanted = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if wanted and _installed(requirement.name):
                todo.append(requirement.name)
    return tuple(found)


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _copy(distribution: metadata.Distribution, directory: Path) -> None:
    """The distribution's top-level packages, modules and metadata, as installed."""
    tops = {Path(str(f)).parts[0] for f in distribution.files or ()}
    for top in sorted(tops):
        if top in ("..", "__pycache__") or top.endswith(".pth"):  # scripts outside site-packages; path hooks
            continue
        source, target = Path(str(distribution.locate_file(top))), directory / top
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, target)
