"""Uploads and imports as background jobs: one worker thread adds photos to the archive, one job at a
time, while searches go on; each job reports progress and can be cancelled.

A job's record is a small JSON file in ``<archive>/api_jobs/`` written atomically at every change of
state (and at most once a second while it runs), so a server killed mid-job finds it again at the next
start: the job runs again, and since adding is incremental it goes on where the killed run stopped.
An upload whose staged file is gone is reported as ``interrupted`` instead. Uploaded photos are kept
in ``<archive>/uploads/``, each with its metadata as a one-row CSV beside it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.archive import Archive
from ..core.atomic import atomic_write_bytes
from ..core.errors import InspectorSearchError
from ..core.progress import Progress, ProgressEvent
from ..json_shapes import add_json
from .limits import ApiError
from .settings import ServerSettings

log = logging.getLogger(__name__)

JOBS_DIR = "api_jobs"
UPLOADS_DIR = "uploads"
STAGING_DIR = ".staging"
METADATA_FIELDS = ("equipment_tag", "equipment_name", "equipment_type", "site", "area", "inspected_on",
                   "inspector", "notes")
ACTIVE = frozenset({"queued", "running"})
SAVE_EVERY = 1.0  # seconds between progress saves of a running job
KEEP_FINISHED = 200  # finished job records kept on disk; older ones are removed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def safe_name(name: str) -> str:
    """A file name without folders or odd characters, for storing an upload (``../x.jpg`` -> ``x.jpg``)."""
    base = re.split(r"[\\/]", name)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[-80:]
    return base or "upload"


@dataclass
class Job:
    """One upload or import: what to do, how far it got, and how it ended."""

    id: str
    kind: str  # "upload" or "import"
    params: dict[str, Any]
    state: str = "queued"  # queued, running, done, failed, cancelled, interrupted
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    progress: dict[str, Any] = field(default_factory=lambda: {"done": 0, "total": 0, "phase": ""})
    result: dict[str, Any] | None = None
    error: str | None = None
    runs: int = 0

    def public(self) -> dict[str, Any]:
        """The job as ``GET /v1/jobs/{id}`` shows it (staging paths left out)."""
        shown = {k: v for k, v in self.params.items() if not k.startswith("_")}
        return {"id": self.id, "kind": self.kind, "state": self.state, "created": self.created,
                "started": self.started, "finished": self.finished, "progress": dict(self.progress),
                "params": shown, "result": self.result, "error": self.error, "runs": self.runs}


class JobManager:
    """Queues jobs, runs them on one worker thread and keeps their records on disk."""

    def __init__(self, archive: Archive, settings: ServerSettings) -> None:
        self.archive = archive
        self.settings = settings
        self.folder = archive.folder / JOBS_DIR
        self.uploads = archive.folder / UPLOADS_DIR
        self._jobs: dict[str, Job] = {}
        self._progress: dict[str, Progress] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._saved_at: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lock_file = _JobsLock(self.folder / "server.lock")
        self.enabled = self._lock_file.acquire()
        if self.enabled:
            self._recover()
        else:
            log.warning("another server runs the jobs of %s: uploads and imports are refused here", archive.folder)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (idempotent; none when another server runs this archive's jobs)."""
        if self._thread is None and self.enabled:
            self._thread = threading.Thread(target=self._work, name="api-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the running job (its finished batches are kept) and end the worker thread. Jobs still
        queued stay queued on disk and run at the next start."""
        with self._lock:
            for progress in self._progress.values():
                progress.cancel()
            self._stopping = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._lock_file.release()

    def _recover(self) -> None:
        """Load the records of earlier runs; queue again what a stopped or killed server left unfinished."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
            try:
                job = Job(**json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("ignoring damaged job record %s (%s)", path, exc)
                continue
            self._jobs[job.id] = job
            if job.state not in ACTIVE:
                continue
            staged = job.params.get("_staged")
            if job.kind == "upload" and not (staged and Path(staged).is_file()) and not (
                    job.params.get("_stored") and Path(job.params["_stored"]).is_file()):
                job.state, job.finished = "interrupted", _now()
                job.error = "the server stopped before this upload was stored; upload the photo again"
            else:
                job.state = "queued"
                job.progress = {"done": 0, "total": 0, "phase": "resuming"}
                self._queue.put(job.id)
            self._save(job)

    # -- submitting ---------------------------------------------------------------------------------
    def _admit(self) -> None:
        if not self.enabled:
            raise ApiError(409, "jobs_elsewhere", "another inspector-search serve on this archive runs its uploads "
                                                  "and imports; send them there")
        active = sum(1 for j in self._jobs.values() if j.state in ACTIVE)
        if active >= self.settings.max_jobs:
            raise ApiError(429, "too_many_jobs", f"{active} jobs are queued or running; this server takes at most "
                                                 f"{self.settings.max_jobs} at once (try again later)")

    def submit_import(self, folder: Path, layout: str | None, metadata: Path | None) -> Job:
        """Queue an import of ``folder`` (already checked to be inside the import folders)."""
        with self._lock:
            self._admit()
            job = Job(secrets.token_hex(8), "import", {"folder": str(folder), "layout": layout,
                                                       "metadata": str(metadata) if metadata else None})
            return self._enqueue(job)

    def submit_upload(self, data: bytes, filename: str, metadata: dict[str, str | None]) -> Job:
        """Stage an uploaded photo inside the archive and queue its addition with ``metadata``."""
        with self._lock:
            self._admit()
            job_id = secrets.token_hex(8)
            name = safe_name(filename)
            staged = self.uploads / STAGING_DIR / f"{job_id}-{name}"
            staged.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(staged, data)
            params = {"filename": filename, "metadata": {k: v for k, v in metadata.items() if v},
                      "sha256": hashlib.sha256(data).hexdigest(), "_staged": str(staged)}
            return self._enqueue(Job(job_id, "upload", params))

    def _enqueue(self, job: Job) -> Job:
        self._jobs[job.id] = job
        self._save(job)
        self._queue.put(job.id)
        return job

    # -- reading and cancelling ---------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no job with id {job_id!r}")
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask a running one to stop after its current batch."""
        job = self.get(job_id)
        with self._lock:
            if job.state == "queued":
                job.state, job.finished = "cancelled", _now()
                self._discard_staged(job)
                self._save(job)
            elif job.state == "running":
                self._progress[job.id].cancel()
            else:
                raise ApiError(409, "job_finished", f"job {job_id} has already finished ({job.state})")
        return job

    # -- running ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping:
                return
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.state != "queued":
                    continue
                job.state, job.started, job.runs = "running", _now(), job.runs + 1
                progress = self._progress[job.id] = Progress(lambda e, j=job: self._report(j, e))
                self._save(job)
            try:
                report = self._run(job, progress)
            except InspectorSearchError as exc:
                self._finish(job, "failed", error=str(exc))
            except Exception as exc:  # a defect: the job fails, the worker goes on
                log.exception("job %s failed", job.id)
                self._finish(job, "failed", error=f"internal error ({type(exc).__name__}); see the server log")
            else:
                if self._stopping and report.get("cancelled"):
                    with self._lock:  # stopped by a server shutdown, not by a user: run again at the next start
                        job.state = "queued"
                        self._save(job)
                    return
                self._finish(job, "cancelled" if report.get("cancelled") else "done", result=report)
            finally:
                with self._lock:
                    self._progress.pop(job.id, None)

    def _run(self, job: Job, progress: Progress) -> dict[str, Any]:
        if job.kind == "import":
            params = job.params
            report = self.archive.add([Path(params["folder"])], layout=params.get("layout"),
                                      metadata=Path(params["metadata"]) if params.get("metadata") else None,
                                      progress=progress)
            return add_json(report)
        stored = self._store_upload(job)
        # The photo's metadata as a CSV beside it, kept: the archive's record of adds (adds.json) names the
        # CSV, so that photos lost with a damaged catalog come back with their metadata at the next add.
        csv_path = stored.with_name(stored.name + ".csv")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(("path", *METADATA_FIELDS))
        writer.writerow((str(stored), *(job.params["metadata"].get(f) or "" for f in METADATA_FIELDS)))
        atomic_write_bytes(csv_path, buffer.getvalue().encode("utf-8"))
        report = self.archive.add([stored], metadata=csv_path, progress=progress)
        result = add_json(report)
        found = self.archive.files_below(stored.parent) if hasattr(self.archive, "files_below") else None
        result["image_id"] = found.get(stored) if found is not None else None
        if found is None:  # a shared archive: its photos are identified on the server
            return result
        if result["image_id"] is None and not report.cancelled:
            for leftover in (stored, csv_path):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            reasons = "; ".join(s.reason for s in report.skipped) or "it was not added"
            raise InspectorSearchError(f"{job.params['filename']}: {reasons}")
        return result

    def _store_upload(self, job: Job) -> Path:
        """Move the staged upload to its place under ``uploads/`` (named by content, so a repeated upload
        is the same file) and forget the staging copy."""
        digest = job.params["sha256"]
        stored = self.uploads / digest[:2] / f"{digest[:16]}-{safe_name(job.params['filename'])}"
        staged = Path(job.params.get("_staged") or "")
        stored.parent.mkdir(parents=True, exist_ok=True)
        if staged.is_file():
            if stored.is_file():
                staged.unlink()
            else:
                os.replace(staged, stored)
        with self._lock:
            job.params["_stored"], job.params["_staged"] = str(stored), None
            self._save(job)
        return stored

    def _report(self, job: Job, event: ProgressEvent) -> None:
        with self._lock:
            job.progress = {"done": event.done, "total": event.total, "phase": event.phase}
            if time.monotonic() - self._saved_at.get(job.id, 0.0) >= SAVE_EVERY:
                self._save(job)

    def _finish(self, job: Job, state: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._lock:
            job.state, job.finished, job.result, job.error = state, _now(), result, error
            if state != "done":
                self._discard_staged(job)
            self._save(job)
            self._prune()

    def _discard_staged(self, job: Job) -> None:
        staged = job.params.get("_staged")
        if staged:
            with contextlib.suppress(OSError):
                Path(staged).unlink()
            job.params["_staged"] = None

    def _save(self, job: Job) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {k: getattr(job, k) for k in Job.__dataclass_fields__}
        atomic_write_bytes(self.folder / f"{job.id}.json", json.dumps(record).encode("utf-8"))
        self._saved_at[job.id] = time.monotonic()

    def _prune(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.state not in ACTIVE), key=lambda j: j.finished or "")
        for job in finished[:-KEEP_FINISHED] if len(finished) > KEEP_FINISHED else []:
            self._jobs.pop(job.id, None)
            with contextlib.suppress(OSError):
                (self.folder / f"{job.id}.json").unlink()


class _JobsLock:
    """An exclusive lock on a file, held while this server runs the archive's jobs, so that two servers on
    one archive never both run (or resume) the same jobs. Released by the OS if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the server's lifetime
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file releases the lock
            self._handle = None
