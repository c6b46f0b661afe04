"""The offline installer (issue 7): build the Linux bundle with ``installer/build.py``, unpack its archive
the way a plant laptop would, and run the frozen executables with a clean environment.

Slow (one PyInstaller build per run, about 2-4 minutes on 2 cores); CI runs it. Needs PyInstaller (the
``installer`` extra) and Linux; skips, saying why, otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import INSULATORS, NEU_CLASSES, PROJECT_ROOT, plant_folder, require
from PIL import Image

from inspector_search import __version__

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the test builds and runs the Linux bundle"),
]

BUILD_SCRIPT = PROJECT_ROOT / "installer" / "build.py"
BUNDLE_NAME = f"InspectorSearch-{__version__}-linux-{platform.machine().lower()}"
SIZE_BUDGET = 600 * 1024 * 1024
"""Generous: today's bundle is about 500 MiB (measured 497 MiB), of which OpenCV (geometric verification,
opencv-python-headless) is 171 MiB: cv2/ 78 MiB and opencv_python_headless.libs 93 MiB. torch, a second Qt
or the non-headless opencv-python beside it (+200 MiB of its own libs) would blow far past it."""
LAYOUT = "{site}/{equipment}/{date}"
STARTUP_TIMEOUT = 60.0
APP_RUNS_FOR = 3.0


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What a plant laptop gives the app: no venv on PATH, no PYTHONPATH, HOME of its own."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **extra}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder`` with its size and modification time, to prove nothing was written."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def set_writable(folder: Path, writable: bool) -> None:
    """Make the folders of the unpacked bundle read-only (an installation may be), or writable again."""
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real build into a temporary folder; its ``--json`` summary."""
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (pip install -e '.[installer]')")
    if shutil.which("objdump") is None:
        pytest.skip("PyInstaller needs objdump on Linux: install binutils (apt-get install binutils)")
    root = tmp_path_factory.mktemp("installer")
    summary = root / "build.json"
    proc = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out", str(root / "dist"), "--work", str(root / "work"),
         "--json", str(summary)], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"build failed ({proc.returncode})\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return json.loads(summary.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bundle(build: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The archive unpacked elsewhere, read-only, as on a plant laptop."""
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(build["archive"]) as archive:
        archive.extractall(target, filter="tar")
    folder = target / BUNDLE_NAME
    set_writable(folder, False)
    yield folder
    set_writable(folder, True)


def run_cli(bundle: Path, home: Path, *args: str, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The frozen ``inspector-search`` from a neutral working folder; fails the test on a non-zero exit."""
    proc = subprocess.run([*wrapper, str(bundle / "inspector-search"), *args], capture_output=True, text=True,
                          env=clean_env(home), cwd=home, timeout=300)
    assert proc.returncode == 0, f"{args} -> {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def no_network_wrapper() -> tuple[str, ...]:
    """``unshare -n`` (a network namespace with no interface up) when this machine allows it, else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return (unshare, "-n")
    return ()


def photo_archive(folder: Path) -> tuple[Path, Path, Path]:
    """Real photos in a plant layout: 6 NEU-DET defects and 4 insulator photos (site South, tag T-201).

    Returns the folder, one insulator photo and a query made from it: cropped, scaled and re-encoded, as
    a new photo of the same scene would be."""
    plant_folder(folder, per_class=3, classes=NEU_CLASSES[:2])
    insulators = sorted(require(INSULATORS).glob("*.jpg"))[:4]
    day = folder / "South" / "T-201" / "2024-03-02"
    day.mkdir(parents=True)
    for source in insulators:
        shutil.copy2(source, day / source.name)
    original = day / insulators[1].name
    query = folder.parent / "queries" / "new-photo.jpg"
    query.parent.mkdir()
    with Image.open(original) as image:
        w, h = image.size
        image.crop((w // 8, h // 10, w - w // 10, h - h // 8)).resize((w * 3 // 5, h * 3 // 5)).save(query, quality=82)
    return folder, original, query


def test_build_writes_versioned_archive_with_model_and_resources(build: dict, bundle: Path) -> None:
    assert Path(build["archive"]).name == f"{BUNDLE_NAME}.tar.gz" and build["version"] == __version__
    internal = bundle / "_internal"
    for executable in ("InspectorSearch", "inspector-search"):
        assert os.access(bundle / executable, os.X_OK), executable
    manifest = json.loads((internal / "models" / "mobilenetv2_gem.json").read_text(encoding="utf-8"))
    assert (internal / "models" / manifest["file"]).is_file()
    assert (internal / "resources" / "icons" / "app.svg").is_file()
    assert (bundle / "install.sh").is_file() and (bundle / "inspector-search.desktop").is_file()
    # One shared set of native libraries for both executables: onnxruntime's and hnswlib's exist once.
    for native in ("onnxruntime_pybind11_state*.so", "libonnxruntime_providers_shared.so", "hnswlib*.so"):
        assert len(list(bundle.rglob(native))) == 1, native
    for unwanted in ("torch", "onnx", "sympy", "pytest", "PySide6/Qt/translations", "PySide6/Qt/qml"):
        assert not (internal / unwanted).exists(), unwanted
    assert not list(bundle.rglob("*.jpg")), "test data in the bundle"
    assert build["folder_bytes"] < SIZE_BUDGET, build["largest_parts"]


def test_frozen_cli_adds_and_searches_with_a_clean_environment(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    photos, original, query = photo_archive(tmp_path / "photos")
    before = snapshot(bundle)

    assert run_cli(bundle, home, "--version").stdout.strip() == f"inspector-search {__version__}"
    added = json.loads(run_cli(bundle, home, "add", str(photos), "--layout", LAYOUT, "--json").stdout)
    assert added["added"] == 10 and added["skipped"] == [] and added["metadata_errors"] == []
    # The user data folder is created on first use, under HOME: nothing else names an archive.
    assert (home / ".local" / "share" / "InspectorSearch" / "archive" / "catalog.sqlite").is_file()

    neu_photo = sorted(photos.glob("North/*/*/*.jpg"))[0]
    lines = run_cli(bundle, home, "search", str(query), str(neu_photo), "--top-k", "3", "--json",
                    wrapper=no_network_wrapper()).stdout.splitlines()
    by_query = {line["query"]: line["results"] for line in map(json.loads, lines)}
    first = by_query[str(query)][0]
    assert (first["path"], first["equipment_tag"], first["site"]) == (str(original), "T-201", "South")
    assert by_query[str(neu_photo)][0]["path"] == str(neu_photo)
    assert by_query[str(neu_photo)][0]["equipment_tag"] == neu_photo.parents[1].name

    status = json.loads(run_cli(bundle, home, "status", "--json").stdout)
    assert status["photos"] == 10 and status["model"].startswith("mobilenetv2_gem-")
    report = tmp_path / "report.pdf"  # reportlab is bundled: a PDF report without a display
    run_cli(bundle, home, "report", "search", str(query), "-k", "3", "--remark", "frozen", "--pdf", str(report))
    assert report.read_bytes().startswith(b"%PDF") and report.stat().st_size > 10_000
    assert snapshot(bundle) == before, "the frozen CLI wrote into its own folder"


def wait_until_archive_open(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until the app holds its catalog open (so its window is up and signals are handled)."""
    deadline = time.monotonic() + timeout
    fds = Path(f"/proc/{process.pid}/fd")
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if any(os.readlink(fd).endswith("catalog.sqlite") for fd in fds.iterdir()):
                return
        except (FileNotFoundError, PermissionError):
            pass  # a descriptor closed while we looked; look again
        time.sleep(0.2)
    process.kill()
    _, stderr = process.communicate(timeout=30)
    pytest.fail(f"the app did not open its archive within {timeout:.0f} s (exit {process.returncode}):\n"
                f"{stderr.decode(errors='replace')}")


def test_frozen_app_starts_offscreen_and_quits_cleanly(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = snapshot(bundle)
    env = clean_env(home, QT_QPA_PLATFORM="offscreen")
    process = subprocess.Popen([str(bundle / "InspectorSearch")], env=env, cwd=home,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_archive_open(process, STARTUP_TIMEOUT)
        time.sleep(APP_RUNS_FOR)
        assert process.poll() is None, "the app exited by itself"
        process.send_signal(signal.SIGTERM)  # what a logout does; the launcher closes the windows
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    errors = stderr.decode(errors="replace")
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "Fatal Python error" not in errors, errors
    assert (home / ".local" / "share" / "InspectorSearch" / "archive" / "catalog.sqlite").is_file()
    assert snapshot(bundle) == before, "the frozen app wrote into its own folder"


def test_install_sh_installs_into_local_and_uninstalls(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".local" / "share" / "InspectorSearch").mkdir(parents=True)  # an archive from earlier use
    env = clean_env(home)
    installed = subprocess.run(["sh", str(bundle / "install.sh")], env=env, capture_output=True, text=True,
                               timeout=300)
    assert installed.returncode == 0, installed.stderr
    app_dir = home / ".local" / "lib" / "inspector-search"
    command = home / ".local" / "bin" / "inspector-search"
    desktop = home / ".local" / "share" / "applications" / "inspector-search.desktop"
    icon = home / ".local" / "share" / "icons" / "hicolor" / "256x256" / "apps" / "inspector-search.png"
    version = subprocess.run([str(command), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"inspector-search {__version__}"
    entry = desktop.read_text(encoding="utf-8")
    assert f'Exec="{app_dir}/InspectorSearch"' in entry and "@APP_DIR@" not in entry
    assert "Icon=inspector-search" in entry
    assert icon.is_file()

    removed = subprocess.run(["sh", str(app_dir / "install.sh"), "--uninstall"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert removed.returncode == 0, removed.stderr
    assert not any(p.exists() or p.is_symlink() for p in (app_dir, command, desktop, icon))
    assert (home / ".local" / "share" / "InspectorSearch").is_dir(), "uninstall must keep the user's archive"


WITNESS_HOLD = 40.0
"""ONNX Runtime's telemetry uploader woke up about 9 s after start (issue 16); the app is held open far longer."""


def test_frozen_bundle_stays_offline_and_writes_only_its_folders(bundle: Path, tmp_path: Path) -> None:
    from offline_witness import foreign_writes, network_use, strace_prefix, witness_env

    if shutil.which("strace") is None or subprocess.run(["strace", "-f", "-o", "/dev/null", "true"]).returncode:
        pytest.skip("strace is not installed or may not trace here (apt-get install strace; .ci/run does)")
    home, tmp, work = (tmp_path / name for name in ("home", "tmp", "work"))
    for folder in (home, tmp, work):
        folder.mkdir()
    photos, _, query = photo_archive(tmp_path / "photos")
    env = {**clean_env(home), **{k: v for k, v in witness_env(home, tmp).items()
                                 if k in ("TMPDIR", "ORT_DISABLE_TELEMETRY", "QT_QPA_PLATFORM")}}
    jail = list(no_network_wrapper())
    cli_trace, app_trace = tmp_path / "cli.txt", tmp_path / "app.txt"
    added = subprocess.run([*jail, *strace_prefix(cli_trace), str(bundle / "inspector-search"), "add", str(photos),
                            "--layout", LAYOUT], env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert added.returncode == 0, added.stderr
    process = subprocess.Popen([*jail, *strace_prefix(app_trace), str(bundle / "InspectorSearch")], env=env, cwd=work,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        children: list[str] = []
        while not children and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert children, "the traced app did not start"
        time.sleep(WITNESS_HOLD)
        assert process.poll() is None, "the app exited by itself"
        maps = Path(f"/proc/{children[0]}/maps").read_text()
        assert "onnxruntime_pybind11_state" in maps, "the app never loaded ONNX Runtime: the witness saw nothing"
        os.kill(int(children[0]), signal.SIGTERM)  # the launcher closes the windows; strace then ends
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr.decode(errors="replace")
    allowed = [home / ".local" / "share" / "InspectorSearch", home / ".config" / "InspectorSearch", tmp, work]
    for trace in (cli_trace, app_trace):
        lines = trace.read_text(errors="replace").splitlines()
        assert network_use(lines) == [], trace.name
        assert foreign_writes(lines, allowed, work) == [], trace.name
    assert not (home / ".cache" / "Microsoft").exists()
