"""Imports point down: cli -> pipeline -> train -> eval -> rewards -> data -> base, and no module imports itself round a circle.

Read from the source with `ast` (every import statement, also those inside functions and `if TYPE_CHECKING:`),
so a lazy or type-only import counts like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Folder -> installed package (pyproject.toml's package-dir) and its layer; a higher layer may import lower ones.
FOLDERS = {
    "thinkdial": "thinkdial",
    "data": "thinkdial.data",
    "rewards": "thinkdial.rewards",
    "eval": "thinkdial.eval",
    "train": "thinkdial.train",
    "pipeline": "thinkdial.pipeline",
}
LAYERS = ("base", "data", "rewards", "eval", "train", "pipeline", "cli")
CLI_MODULES = {"thinkdial.cli", "thinkdial.__main__"}


def module_files() -> dict[str, Path]:
    """Return dotted module name -> source file for every module thinkdial installs."""
    modules = {}
    for folder, package in FOLDERS.items():
        for file in sorted((ROOT / folder).glob("*.py")):
            modules[package if file.stem == "__init__" else f"{package}.{file.stem}"] = file
    return modules


MODULES = module_files()


def layer(module: str) -> str:
    """Return the layer of a thinkdial module or package."""
    if module in CLI_MODULES:
        return "cli"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "base"


def imported_modules(file: Path) -> set[str]:
    """Return the thinkdial modules `file` imports (`from pkg import name` counts as pkg.name when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                for a in node.names
            }
    return {m for m in found if m == "thinkdial" or m.startswith("thinkdial.")}


GRAPH = {module: imported_modules(file) for module, file in MODULES.items()}


def test_every_stage_and_the_base_layer_are_scanned():
    assert {layer(m) for m in MODULES} == set(LAYERS)
    assert {"thinkdial.io", "thinkdial.models", "thinkdial.tiny", "thinkdial.rewards.registry"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(module):
    rank = LAYERS.index(layer(module))
    upward = sorted(m for m in GRAPH[module] if LAYERS.index(layer(m)) > rank)
    assert not upward, f"{module} ({layer(module)}) imports higher layers: {upward}"


def test_no_import_circles():
    circles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append(path[path.index(module) :] + [module])
            return
        if module in done or module not in GRAPH:
            return
        for target in sorted(GRAPH[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert not circles, " ; ".join(" -> ".join(c) for c in circles)
