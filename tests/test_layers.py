"""House rules that keep the architecture honest: the core imports no Qt, and ruff is clean."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "inspector_search" / "core"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_qt_gui_or_cli(module: Path) -> None:
    bad = {m for m in imported_modules(module) if m.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "shiboken6"}
           or m.startswith(("inspector_search.gui", "inspector_search.cli"))}
    assert not bad, f"{module.name} imports {sorted(bad)}"


def test_importing_the_core_loads_no_qt() -> None:
    code = ("import sys, inspector_search.core.archive, inspector_search.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    folders = [f for f in ("inspector_search", "tests", "models", "benchmarks", "tools", "installer")
               if (ROOT / f).is_dir()]
    proc = subprocess.run([ruff, "check", *folders], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
