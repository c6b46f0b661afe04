"""Helpers of the reliability tests: the real CLI as a subprocess, file digests, real permission and
mount tricks (dropping root's override capabilities, tmpfs and read-only bind mounts when allowed)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from inspector_search.core.archive import Archive
from inspector_search.core.vector_store import ProjectionPolicy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
NEU_DET = DATASETS / "neu_det"
SMALL_PCA = ProjectionPolicy(dim=16, min_photos=12)
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def run_cli(archive: Path, *args: str, check: bool = True, preexec_fn: Callable[[], None] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m inspector_search --archive ARCHIVE ARGS...`` and return the finished process."""
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_SEARCH_ARCHIVE"}
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(archive), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=preexec_fn)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


@functools.cache
def kill_loop() -> ModuleType:
    """``benchmarks/kill_loop.py`` as a module: its ``run_seed`` and ``verify`` (every promise about a
    finished archive) are shared by the tests and the many-seeds benchmark."""
    spec = importlib.util.spec_from_file_location("kill_loop", PROJECT_ROOT / "benchmarks" / "kill_loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_loop"] = module
    spec.loader.exec_module(module)
    return module


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file directly in ``folder`` (to prove that files were left untouched)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def neu_files(class_name: str, count: int) -> list[Path]:
    """The first ``count`` NEU-DET photos of one class (sorted); skips the test without the dataset."""
    if not NEU_DET.is_dir():
        pytest.skip(f"dataset folder {NEU_DET} is absent (it lives in ../shared/datasets beside the project)")
    return sorted((NEU_DET / class_name).glob("*.jpg"))[:count]


def neu_photos(count: int, target: Path) -> Path:
    """Copy ``count`` NEU-DET photos (round-robin over the classes, sorted names) into ``target/<class>/``."""
    if not NEU_DET.is_dir():
        pytest.skip(f"dataset folder {NEU_DET} is absent (it lives in ../shared/datasets beside the project)")
    return kill_loop().make_photo_folder(target, count, NEU_DET)


def build_archive(folder: Path, photos: Path, layout: str | None = None) -> None:
    """An archive of ``photos`` with a (small) fitted PCA, so that projection.npz exists."""
    with Archive.open(folder, policy=SMALL_PCA) as archive:
        archive.add([photos], layout=layout)


def copy_archive(template: Path, target: Path) -> Path:
    """A private copy of a built archive folder (the photos it names stay where they are)."""
    shutil.copytree(template, target)
    with contextlib.suppress(FileNotFoundError):
        (target / "lock").unlink()
    return target


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _drop_override_capabilities() -> None:
    """In the child, before exec: root loses the right to ignore file permissions (bounding set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def permissions_apply() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes file permissions bind the child process: nothing for a normal user;
    for root (tests run as root here) drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH. Skips the test when
    neither is possible (Windows, or root without the right to drop capabilities)."""
    if os.name != "posix":
        pytest.skip("POSIX permissions are needed")
    if not is_root():
        return None
    if not _can_drop_capabilities():
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE; permissions would not apply")
    return _drop_override_capabilities


@functools.cache
def _can_drop_capabilities() -> bool:
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_override_capabilities,
                           capture_output=True)
    return probe.returncode == 0


@functools.cache
def can_mount() -> bool:
    """True when this process may mount file systems (root with CAP_SYS_ADMIN, e.g. CI containers)."""
    if not sys.platform.startswith("linux") or not is_root() or shutil.which("mount") is None:
        return False
    probe = Path(f"/tmp/inspector-search-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    finally:
        probe.rmdir()


def require_mount() -> None:
    if not can_mount():
        pytest.skip("mounting is not allowed here (needs root with CAP_SYS_ADMIN on Linux)")


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real small file system at ``folder`` (size like "600k"), unmounted afterwards."""
    require_mount()
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def resize_tmpfs(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


@contextlib.contextmanager
def bind_mount(source: Path, target: Path, read_only: bool = False) -> Iterator[Path]:
    """``source`` seen at ``target`` through a bind mount (read-only if asked), unmounted afterwards."""
    require_mount()
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)
