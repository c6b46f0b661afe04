"""Build the Inspector Search bundle for this machine: a folder with both executables, and an archive.

    python installer/build.py [--out DIR] [--work DIR] [--no-archive] [--setup] [--json PATH]

Runs PyInstaller on ``installer/inspector_search.spec`` with the Python that runs this script (use
the project's venv, with the ``installer`` extra installed), then writes into ``--out`` (default
``dist/``):

- ``InspectorSearch-<version>-<platform>/``: ``InspectorSearch`` (desktop app), ``inspector-search``
  (command line), ``_internal/`` (Python, Qt, onnxruntime, hnswlib, the model, resources); on Linux
  also ``install.sh`` and ``inspector-search.desktop``;
- ``InspectorSearch-<version>-<platform>.tar.gz`` on Linux, ``.zip`` on Windows;
- with ``--setup`` on Windows: ``InspectorSearch-<version>-setup.exe`` made by Inno Setup's ISCC
  from ``installer/windows/InspectorSearch.iss``.

It checks that the folder holds what the app needs (executables, model and manifest, icons) and
nothing it must not (torch, onnx), and prints the bundle size with its largest parts. Works the
same on Linux and Windows; a build cannot cross-compile, so build each platform on that platform.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

INSTALLER_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = INSTALLER_DIR.parent
SPEC = INSTALLER_DIR / "inspector_search.spec"
COLLECT_NAME = "InspectorSearch"
IS_WINDOWS = sys.platform == "win32"
EXE_SUFFIX = ".exe" if IS_WINDOWS else ""
REQUIRED_FILES = (
    f"InspectorSearch{EXE_SUFFIX}",
    f"inspector-search{EXE_SUFFIX}",
    "_internal/models/mobilenetv2_gem.onnx",
    "_internal/models/mobilenetv2_gem.json",
    "_internal/resources/icons/app.svg",
    "_internal/resources/inspector-search.png",
)
FORBIDDEN_PACKAGES = ("torch", "onnx", "sympy", "pytest", "PyInstaller")
LINUX_EXTRAS = (("linux/install.sh", 0o755), ("linux/inspector-search.desktop", 0o644))
TOP_PARTS = 15


@dataclass
class BuildResult:
    """What a build produced, for the printed summary and ``--json``."""

    version: str
    platform: str
    folder: str
    archive: str | None
    setup: str | None
    folder_bytes: int
    archive_bytes: int | None
    seconds: float
    largest_parts: list[tuple[str, int]] = field(default_factory=list)


def project_version() -> str:
    """``inspector_search.__version__`` read from the source, without importing the package."""
    for line in (PROJECT_ROOT / "inspector_search" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("inspector_search/__init__.py has no __version__")


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-amd64``...: what the bundle runs on (it contains native code)."""
    system = "windows" if IS_WINDOWS else sys.platform.rstrip("0123456789")
    return f"{system}-{platform.machine().lower()}"


def run_pyinstaller(staging: Path, work: Path, clean: bool) -> Path:
    """Run PyInstaller on the spec; the collected folder (``staging/InspectorSearch``)."""
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(staging), "--workpath", str(work), str(SPEC)]
    if clean:
        command.insert(3, "--clean")
    print("running:", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=PROJECT_ROOT)
    return staging / COLLECT_NAME


def place_folder(collected: Path, target: Path) -> Path:
    """Move the collected folder to its versioned name and add the platform's install files."""
    if target.exists():
        shutil.rmtree(target)
    shutil.move(str(collected), str(target))
    if not IS_WINDOWS:
        for relative, mode in LINUX_EXTRAS:
            copy = target / Path(relative).name
            shutil.copyfile(INSTALLER_DIR / relative, copy)
            copy.chmod(mode)
    return target


def check_folder(folder: Path) -> None:
    """Fail the build when a file the app needs is missing or a development package slipped in."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    present = [name for name in FORBIDDEN_PACKAGES if (folder / "_internal" / name).exists()]
    if missing or present:
        raise SystemExit(f"bundle check failed in {folder}: missing {missing or 'nothing'}, "
                         f"unwanted packages {present or 'none'}")


def write_archive(folder: Path) -> Path:
    """``<folder>.tar.gz`` (Linux: keeps modes and symlinks) or ``<folder>.zip`` (Windows)."""
    if IS_WINDOWS:
        return Path(shutil.make_archive(str(folder), "zip", root_dir=folder.parent, base_dir=folder.name))
    archive = folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def find_iscc() -> Path:
    """Inno Setup's command-line compiler: on PATH, or in its default per-machine or per-user place."""
    found = shutil.which("iscc")
    candidates = [Path(found)] if found else []
    for base in ("ProgramFiles(x86)", "ProgramFiles", "LOCALAPPDATA"):
        root = os.environ.get(base)
        if root:
            candidates += [Path(root) / sub / "Inno Setup 6" / "ISCC.exe" for sub in ("", "Programs")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit("--setup needs Inno Setup 6 (ISCC.exe); install it from https://jrsoftware.org/isinfo.php")


def write_setup(folder: Path, version: str) -> Path:
    """Compile ``installer/windows/InspectorSearch.iss`` against ``folder``; the setup executable."""
    command = [str(find_iscc()), f"/DAppVersion={version}", f"/DSourceDir={folder}", f"/O{folder.parent}",
               str(INSTALLER_DIR / "windows" / "InspectorSearch.iss")]
    print("running:", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return folder.parent / f"InspectorSearch-{version}-setup.exe"


def tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file below a folder (symlinks not followed, not counted)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def largest_parts(folder: Path, count: int = TOP_PARTS) -> list[tuple[str, int]]:
    """The biggest parts of the bundle: entries of ``_internal/`` (PySide6's Qt split one level
    further, since it is the largest) and the executables, largest first."""
    internal = folder / "_internal"
    parts = [p for p in folder.iterdir() if p.name != "_internal"] + list(internal.iterdir())
    qt = internal / "PySide6" / "Qt"
    if qt.is_dir():
        parts = [p for p in parts if p.name != "PySide6"]
        parts += [p for p in (internal / "PySide6").iterdir() if p.name != "Qt"] + list(qt.iterdir())
    sized = [(p.relative_to(folder).as_posix(), tree_bytes(p)) for p in parts]
    return sorted(sized, key=lambda item: item[1], reverse=True)[:count]


def print_summary(result: BuildResult) -> None:
    """Where the outputs are, how big, and what dominates."""
    mb = 1024 * 1024
    print(f"\nInspector Search {result.version} for {result.platform}, built in {result.seconds:.0f} s")
    print(f"folder:  {result.folder}  ({result.folder_bytes / mb:.1f} MiB)")
    if result.archive:
        print(f"archive: {result.archive}  ({(result.archive_bytes or 0) / mb:.1f} MiB)")
    if result.setup:
        print(f"setup:   {result.setup}")
    print("largest parts:")
    for name, size in result.largest_parts:
        print(f"  {size / mb:7.1f} MiB  {100 * size / result.folder_bytes:4.1f} %  {name}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Build the Inspector Search bundle (folder + archive) for this OS.")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder; keep it between builds to reuse its cache")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--no-archive", action="store_true", help="write the folder only")
    parser.add_argument("--setup", action="store_true", help="Windows: also compile the Inno Setup installer")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the build summary as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build, check, archive and report; the process exit code."""
    args = parse_args(argv)
    started = time.perf_counter()
    version, tag = project_version(), platform_tag()
    out = args.out.resolve()
    staging = out / ".pyinstaller"
    collected = run_pyinstaller(staging, args.work.resolve(), args.clean)
    folder = place_folder(collected, out / f"{COLLECT_NAME}-{version}-{tag}")
    shutil.rmtree(staging, ignore_errors=True)
    check_folder(folder)
    archive = None if args.no_archive else write_archive(folder)
    setup = write_setup(folder, version) if args.setup and IS_WINDOWS else None
    if args.setup and not IS_WINDOWS:
        print("--setup ignored: the Inno Setup installer is built on Windows", file=sys.stderr)
    result = BuildResult(
        version=version, platform=tag, folder=str(folder), archive=str(archive) if archive else None,
        setup=str(setup) if setup else None, folder_bytes=tree_bytes(folder),
        archive_bytes=archive.stat().st_size if archive else None, seconds=time.perf_counter() - started,
        largest_parts=largest_parts(folder))
    print_summary(result)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
