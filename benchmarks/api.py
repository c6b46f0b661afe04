"""Load on the HTTP API: throughput and latency of ``POST /v1/search`` with 1, 4 and 8 concurrent
clients on a large archive, server CPU per request, memory over many requests, and dropped uploads.

The server is the real ``inspector-search serve`` in its own process on a free loopback port; the
clients are threads of this process with one httpx connection each, uploading real 1152 x 864 camera
JPEGs (the insulators). The archive of 100,000 photos is synthesised as in ``startup.py`` (cached).
Everything is bounded: each client level stops after ``--requests`` searches or ``--seconds``.

Run from the project root::

    python benchmarks/api.py                                  # 100k archive, 1/4/8 clients, 10,000-request memory run
    python benchmarks/api.py --memory-requests 0 --clients 8  # quick
    python benchmarks/api.py --inference-slots 1,2,4 --clients 8   # the inference gate's size
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import startup  # noqa: E402  (the archive synthesiser)

from inspector_search.api.tokens import TokenStore  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"


class Server:
    """``inspector-search serve --port 0`` on an archive, in its own process, with a private TMPDIR."""

    def __init__(self, archive: Path, slots: int | None, temp: Path) -> None:
        args = [sys.executable, "-m", "inspector_search", "--archive", str(archive), "serve", "--port", "0"]
        if slots:
            args += ["--inference-slots", str(slots)]
        env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_SEARCH_ARCHIVE"} | {"TMPDIR": str(temp)}
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.url = None
        while self.url is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}")
            found = re.search(r"on (http://\S+)", line)
            self.url = found.group(1) if found else None
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe drained
        self.ps = psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def load(server: Server, token: str, photos: list[bytes], clients: int, requests: int, seconds: float,
         top_k: int = 10, verify: bool = True) -> dict:
    """``requests`` searches spread over ``clients`` threads (or until ``seconds`` pass)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    issued = iter(range(requests))
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    n = next(issued, None)
                if n is None:
                    return
                t0 = time.perf_counter()
                answer = http.post("/v1/search", files=[("images", ("q.jpg", photos[n % len(photos)], "image/jpeg"))],
                                   data={"top_k": str(top_k), "verify": str(verify).lower()})
                took = time.perf_counter() - t0
                with lock:
                    if answer.status_code == 200 and answer.json()["queries"][0]["results"]:
                        latencies.append(took)
                    else:
                        errors.append(f"{answer.status_code} {answer.text[:200]}")

    cpu0, own0, t0 = server.cpu(), time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    done = len(latencies) + len(errors)
    ms = np.array(latencies) * 1000
    return {"clients": clients, "verify": verify, "requests": done, "errors": len(errors), "first_errors": errors[:3],
            "seconds": wall, "per_s": len(latencies) / wall,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p95_ms": float(np.percentile(ms, 95)) if len(ms) else None,
            "server_cpu_ms": 1000 * (server.cpu() - cpu0) / max(done, 1),
            "client_cpu_ms": 1000 * (time.process_time() - own0) / max(done, 1)}


def memory_run(server: Server, token: str, photos: list[bytes], requests: int, seconds: float) -> dict:
    """Resident memory of the server every tenth of ``requests`` searches (4 clients)."""
    samples = [server.rss_mb()]
    step = max(requests // 10, 1)
    done = errors = 0
    deadline = time.monotonic() + seconds
    while done < requests and time.monotonic() < deadline:
        result = load(server, token, photos, 4, step, deadline - time.monotonic())
        done += result["requests"]
        errors += result["errors"]
        samples.append(server.rss_mb())
    return {"requests": done, "errors": errors, "rss_mb": samples}


def dropped_uploads(server: Server, token: str, photo: bytes, archive: Path, temp: Path, count: int) -> dict:
    """``count`` uploads whose client goes away after two thirds of the body; then what is left."""
    host, port = server.url.removeprefix("http://").split(":")
    payload = photo * 4
    head = (b'--cut\r\nContent-Disposition: form-data; name="image"; filename="dropped.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n")
    rss = [server.rss_mb()]
    for n in range(count):
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(f"POST /v1/photos HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                         f"Content-Type: multipart/form-data; boundary=cut\r\n"
                         f"Content-Length: {len(head) + len(payload) + 9}\r\n\r\n".encode() + head
                         + payload[: len(payload) * 2 // 3])
        if (n + 1) % max(count // 5, 1) == 0:
            time.sleep(0.2)
            rss.append(server.rss_mb())
    time.sleep(1.0)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        jobs = http.get("/v1/jobs").json()
    uploads = archive / "uploads"
    return {"dropped": count, "jobs": len(jobs), "temp_files": sum(1 for _ in temp.rglob("*")),
            "upload_files": sum(1 for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else 0,
            "rss_mb": [*rss, server.rss_mb()]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="100k", choices=sorted(startup.SIZES), help="archive size (default 100k)")
    parser.add_argument("--archive", type=Path, help="an existing archive to serve instead of a synthesised one")
    parser.add_argument("--cache", type=Path, default=startup.DEFAULT_CACHE, help="where synthesised archives live")
    parser.add_argument("--clients", default="1,4,8", help="concurrent clients per level (default 1,4,8)")
    parser.add_argument("--requests", type=int, default=400, help="searches per level (default 400)")
    parser.add_argument("--seconds", type=float, default=60, help="time cap per level (default 60 s)")
    parser.add_argument("--verify", default="on", help="geometric verification per level: on, off or on,off")
    parser.add_argument("--inference-slots", default="", help="comma list of serve --inference-slots to compare")
    parser.add_argument("--memory-requests", type=int, default=10_000, help="requests of the memory run (0: skip)")
    parser.add_argument("--memory-seconds", type=float, default=600, help="time cap of the memory run")
    parser.add_argument("--dropped", type=int, default=50, help="dropped uploads to send (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()

    archive = args.archive or startup.synthesise_archive(args.size, args.cache)
    photos = [p.read_bytes() for p in sorted((DATASETS / "insulators").glob("*.jpg"))[:40]]
    if not photos:
        sys.exit(f"{DATASETS / 'insulators'} not found: real photos are needed to query with")
    store = TokenStore(archive)
    (read_record, read), (write_record, write) = store.create("read", "benchmark"), store.create("write", "benchmark")
    results: dict = {"archive": str(archive), "size": None if args.archive else args.size,
                     "load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "runs": []}
    try:
        for slots in [int(s) for s in args.inference_slots.split(",") if s] or [None]:
            with tempfile.TemporaryDirectory() as temp:
                server = Server(archive, slots, Path(temp))
                try:
                    load(server, read, photos, 2, 20, 60)  # warm: model, index, filter columns
                    print(f"server ready at {server.url}, slots {slots or 'default'}, rss {server.rss_mb():.0f} MB",
                          flush=True)
                    levels = [(int(c), v == "on") for v in args.verify.split(",") for c in args.clients.split(",")]
                    for clients, verify in levels:
                        row = load(server, read, photos, clients, args.requests, args.seconds, verify=verify)
                        row["slots"] = slots
                        results["runs"].append(row)
                        print(f"  {clients} clients, verify {'on ' if verify else 'off'}: {row['per_s']:5.1f} "
                              f"searches/s  p50 {row['p50_ms']:6.1f} ms  "
                              f"p95 {row['p95_ms']:6.1f} ms  errors {row['errors']}  server CPU "
                              f"{row['server_cpu_ms']:.1f} ms/request  client CPU {row['client_cpu_ms']:.1f} ms"
                              f"  ({row['requests']} requests)", flush=True)
                    if args.memory_requests:
                        memory = memory_run(server, read, photos, args.memory_requests, args.memory_seconds)
                        results["memory"] = memory
                        print(f"  memory over {memory['requests']} requests ({memory['errors']} errors): "
                              + " ".join(f"{m:.0f}" for m in memory["rss_mb"]) + " MB", flush=True)
                    if args.dropped:
                        dropped = dropped_uploads(server, write, photos[0], archive, Path(temp), args.dropped)
                        results["dropped"] = dropped
                        print(f"  {dropped['dropped']} dropped uploads: {dropped['jobs']} jobs, "
                              f"{dropped['temp_files']} temporary files, {dropped['upload_files']} stored files left;"
                              " rss " + " ".join(f"{m:.0f}" for m in dropped["rss_mb"]) + " MB", flush=True)
                finally:
                    server.stop()
    finally:
        store.revoke(read_record.id)
        store.revoke(write_record.id)
    results["load_average_end"] = os.getloadavg()
    print(f"load average: {results['load_average_start'][0]:.2f} at start, {results['load_average_end'][0]:.2f} "
          f"at end ({os.cpu_count()} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["errors"] == 0 for r in results["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
