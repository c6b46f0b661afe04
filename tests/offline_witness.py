"""The offline witness: a long-lived archive process to run under ``strace``, and the reading of its trace.

Run as a script, it is the process under watch: it opens an archive, adds half of a photo folder, keeps
the archive (and its ONNX Runtime session) open while it searches again and again, adds the other half
midway, and ends only once ``--hold`` seconds have passed. ONNX Runtime's telemetry uploader woke up
about 9 s after start, so anything shorter than that proves nothing; the tests hold for 40 s.

    strace -f -qq -e trace=%network,%file -o trace.txt python tests/offline_witness.py ARCHIVE PHOTOS --hold 40

Imported, it reads such a trace: ``network_use`` lists every ``socket()`` of an internet family, every
``connect()`` and every ``sendto``/``sendmsg`` to an internet address (a DNS question included), and
``foreign_writes`` every file created, opened for writing, renamed, linked or deleted outside the
folders a run is allowed to write to. ``--control`` makes the driver break both rules once on purpose
(a connection attempt to a documentation-only address and a file under ``$HOME/.cache``), so a test can
prove that the reading catches what it should.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterable
from pathlib import Path

TRACE_SYSCALLS = "trace=%network,%file"
"""strace's filter for both witnesses: every network call and every call that names a file."""

CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
                "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
                "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "ORT_RUNNING_UNIT_TESTS")
"""Variables that make onnxruntime switch its telemetry off by itself (``telemetry_environment.h``): a
witness must remove them, or it would prove only that CI is CI."""

_INTERNET = re.compile(r"\bAF_INET6?\b")
_SYSCALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(?:[\d:.]+\s+)?(\w+)\((.*)$")
_WRITE_FLAGS = re.compile(r"\bO_(?:WRONLY|RDWR|CREAT|TRUNC|APPEND)\b")
_ONE_PATH_CALLS = {"mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "creat", "truncate", "mknod", "mknodat"}
_TWO_PATH_CALLS = {"rename", "renameat", "renameat2", "link", "linkat"}
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def witness_env(home: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """A child environment for the witness: HOME and TMPDIR of its own, no CI markers, no XDG overrides,
    and ``ORT_DISABLE_TELEMETRY=0``, so the run proves the program's own switch wins over the user's."""
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES and not k.startswith("XDG_")}
    env.update(HOME=str(home), TMPDIR=str(tmp), ORT_DISABLE_TELEMETRY="0", PYTHONDONTWRITEBYTECODE="1",
               QT_QPA_PLATFORM="offscreen", **extra)
    return env


def strace_prefix(trace: Path) -> list[str]:
    """The ``strace`` command line that writes the trace the functions below read."""
    return ["strace", "-f", "-qq", "-s", "512", "-e", TRACE_SYSCALLS, "-o", str(trace)]


def _calls(lines: Iterable[str]) -> Iterable[tuple[str, str, str]]:
    for line in lines:
        match = _SYSCALL.match(line.strip())
        if match:
            yield match.group(2), match.group(3), line.strip()


def network_use(lines: Iterable[str]) -> list[str]:
    """Trace lines that show network use: an internet socket, any connect, or a datagram to the internet."""
    found = []
    for name, args, line in _calls(lines):
        internet_socket = name in ("socket", "socketpair") and _INTERNET.search(args.split(",")[0]) is not None
        connection = name == "connect" and "AF_UNIX" not in args
        datagram = name in ("sendto", "sendmsg", "sendmmsg") and (_INTERNET.search(args) or "htons(53)" in args)
        if internet_socket or connection or datagram:
            found.append(line)
    return found


def _unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode(
        "utf-8", "surrogateescape")


def _written_paths(name: str, args: str) -> list[str]:
    """The paths a call writes (a ``*at`` call's directory descriptor is not quoted, so paths come first)."""
    quoted = [_unescape(q) for q in _QUOTED.findall(args)]
    if name in ("open", "openat", "openat2"):
        return quoted[:1] if _WRITE_FLAGS.search(args) else []
    if name in _ONE_PATH_CALLS:
        return quoted[:1]
    if name in _TWO_PATH_CALLS:
        return quoted[:2]
    if name in ("symlink", "symlinkat"):
        return quoted[1:2]  # the link, not its target
    return []


def foreign_writes(lines: Iterable[str], allowed: Iterable[Path], cwd: Path) -> list[str]:
    """Trace lines that write a file outside the ``allowed`` folders (relative paths are taken against
    ``cwd``). ``/dev/null``, ``/dev/shm`` (POSIX semaphores) and ``/proc``/``/dev/pts`` are never files;
    creating the parents of an allowed folder is allowed."""
    roots = [os.path.realpath(p) for p in allowed]
    found = []
    for name, args, line in _calls(lines):
        if " = -1 " in line:  # a failed call wrote nothing
            continue
        for path in _written_paths(name, args):
            if path.startswith("/proc/"):  # e.g. linkat's /proc/self/fd/N: another process's fd, not a file here
                continue
            full = os.path.realpath(os.path.join(cwd, path))
            if full in ("/dev/null", "/dev/tty") or full.startswith(("/dev/shm/", "/proc/", "/dev/pts/")):
                continue
            if name in ("mkdir", "mkdirat") and any(root.startswith(full + os.sep) for root in roots):
                continue  # a parent of an allowed folder (~/.local/share for the user data folder)
            if not any(full == root or full.startswith(root + os.sep) for root in roots):
                found.append(line)
    return found


def _control(home: Path) -> None:
    """Break both rules once, on purpose (``--control``)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.2)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: reserved for documentation, never routed
    except OSError:
        pass
    finally:
        probe.close()
    (home / ".cache").mkdir(exist_ok=True)
    (home / ".cache" / "control.txt").write_text("written outside the archive on purpose\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Hold an archive open for ``--hold`` seconds with an add at the start and midway, and searches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--hold", type=float, default=40.0, help="seconds to keep the archive open")
    parser.add_argument("--control", action="store_true", help="break both rules once (tests the witness)")
    args = parser.parse_args(argv)

    from inspector_search.core.archive import Archive
    from inspector_search.core.records import SearchRequest

    started = time.monotonic()
    folders = sorted(p for p in args.photos.iterdir() if p.is_dir())
    first, second = folders[: max(1, len(folders) // 2)], folders[max(1, len(folders) // 2):]
    queries = sorted(args.photos.rglob("*.jpg"))[:6]
    searches = added = 0
    with Archive.open(args.archive) as archive:
        added += archive.add(first).added
        while time.monotonic() - started < args.hold or second:
            if second and time.monotonic() - started >= args.hold / 2:
                added += archive.add(second).added
                second = []
            archive.search(SearchRequest(image=queries[searches % len(queries)], top_k=5))
            searches += 1
            time.sleep(0.5)
        status = archive.status()
    if args.control:
        _control(Path(os.environ["HOME"]))
    print(json.dumps({"added": added, "indexed": status.indexed, "searches": searches,
                      "seconds": round(time.monotonic() - started, 1),
                      "onnxruntime_loaded": "onnxruntime" in sys.modules,
                      "switch": os.environ.get("ORT_DISABLE_TELEMETRY")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
