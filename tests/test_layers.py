"""House rules that keep the architecture honest: the core imports no Qt, and ruff is clean."""

from __future__ import annotations

import ast
import os
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


def runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports at run time: everything but imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for branch in node.body for child in ast.walk(branch))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


PROJECT_FILES = sorted(p for folder in ("inspector_search", "benchmarks", "models", "installer", "tests")
                       for p in (ROOT / folder).rglob("*.py"))
ONNX_RUNTIME_GATE = CORE / "onnx_runtime.py"


def onnxruntime_bypass(path: Path) -> bool:
    """Whether ``path`` imports onnxruntime itself, or one of its tools without loading it through the gate."""
    imports = runtime_imports(path)
    tools = any(m.startswith("onnxruntime.") for m in imports)
    return "onnxruntime" in imports or (tools and "inspector_search.core.onnx_runtime" not in imports)


def test_only_the_gate_module_imports_onnxruntime() -> None:
    # onnxruntime must be loaded with its telemetry switched off (core/onnx_runtime.py says why): one way in.
    # A benchmark may import onnxruntime's tools (quantisation) once it has loaded onnxruntime through the gate.
    offenders = [str(p.relative_to(ROOT)) for p in PROJECT_FILES if p != ONNX_RUNTIME_GATE and onnxruntime_bypass(p)]
    assert offenders == []
    assert "onnxruntime" in runtime_imports(ONNX_RUNTIME_GATE)  # the check looks at the right thing


def test_runtime_import_scan_sees_imports_hidden_in_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import onnxruntime as ort\n"
                      "def f():\n    from onnxruntime.quantization import x\n", encoding="utf-8")
    assert runtime_imports(sample) == {"typing", "onnxruntime.quantization"}


def test_entry_points_switch_onnxruntime_telemetry_off_whatever_the_environment_says() -> None:
    code = ("import os, sys; import inspector_search; assert 'onnxruntime' not in sys.modules; "
            "print(os.environ['ORT_DISABLE_TELEMETRY'])")
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "1"
    for script in ("installer/launchers/inspector_search_cli.py", "installer/launchers/inspector_search_app.py",
                   "models/export.py"):
        text = (ROOT / script).read_text(encoding="utf-8")
        assert 'os.environ["ORT_DISABLE_TELEMETRY"] = "1"' in text, script
