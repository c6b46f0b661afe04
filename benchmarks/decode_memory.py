"""Peak memory of an ``add`` of a few huge photos with several decoding threads, with and without the
decode budget (``inspector_search/core/decode_budget.py``).

Writes ``--photos`` 16-bit RGB PNGs of ``--megapixels`` each (a smooth gradient plus noise, so they are
quick to write and a few MB on disk) into a temporary folder, then runs ``inspector-search add --workers
N`` in a child process once with the default budget (1 GiB) and once with the budget lifted (the
behaviour before it), and prints each child's peak resident memory and time. The peak is the child's
``VmHWM`` (Linux), read while it runs: ``ru_maxrss`` would not do, as Linux carries the parent's own peak
(over a GB here, from writing the photos) into a child across ``exec``.

    python benchmarks/decode_memory.py                       # 4 photos of 196 MP, --workers 4
    python benchmarks/decode_memory.py --photos 4 --megapixels 64
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_photos(folder: Path, count: int, megapixels: float) -> list[Path]:
    """``count`` 16-bit RGB PNGs of about ``megapixels`` each (cv2 writes 16-bit colour PNGs; Pillow cannot)."""
    import cv2

    side = int((megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 60000, side, dtype=np.float32)
    paths = []
    for n in range(count):
        image = np.empty((side, side, 3), dtype=np.uint16)
        for channel in range(3):
            image[:, :, channel] = (ramp[None, :] * (0.5 + 0.2 * channel) + ramp[:, None] * 0.3).astype(np.uint16)
        image[:: 97, :: 89] = rng.integers(0, 65535, image[:: 97, :: 89].shape, dtype=np.uint16)
        path = folder / f"huge_{n}.png"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        paths.append(path)
        del image
    return paths


def run_add(photos: Path, archive: Path, workers: int, budget_mb: int | None) -> dict:
    """One ``add`` in a child process; its peak RSS (MiB), seconds and what it added."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INSPECTOR_SEARCH_DECODE_BUDGET_MB", None)
    if budget_mb is not None:
        env["INSPECTOR_SEARCH_DECODE_BUDGET_MB"] = str(budget_mb)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "-m", "inspector_search", "--archive", str(archive), "add",
                                 str(photos), "--workers", str(workers), "--json"], stdout=out, env=env)
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _high_water_kib(proc.pid))
            time.sleep(0.05)
        assert proc.returncode == 0, f"add failed ({proc.returncode})"
        out.seek(0)
        report = json.loads(out.read())
    return {"budget_mb": budget_mb or "default (1024)", "peak_rss_mib": round(peak_kib / 1024),
            "seconds": round(time.perf_counter() - started, 1), "added": report["added"],
            "skipped": [s["reason"] for s in report["skipped"]]}


def _high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (``VmHWM`` in /proc/PID/status), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--megapixels", type=float, default=196.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="decode-memory-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        started = time.perf_counter()
        write_photos(folder, args.photos, args.megapixels)
        print(f"wrote {args.photos} x {args.megapixels:g} MP 16-bit PNGs in {time.perf_counter() - started:.0f} s "
              f"({sum(p.stat().st_size for p in folder.iterdir()) / 2**20:.0f} MiB on disk)")
        results = [run_add(folder, Path(tmp) / "bounded", args.workers, None)]
        results.append(run_add(folder, Path(tmp) / "unbounded", args.workers, 1 << 20))
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
