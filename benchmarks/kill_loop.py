"""Kill ``inspector-search add`` (and ``reindex``) with SIGKILL at random points, finish the job, and
verify that nothing was lost or duplicated.

For each seed: a fresh archive and a folder of real NEU-DET photos (one exact duplicate pair
included, plus two files whose names are not UTF-8, which must be skipped with their reason without
blocking any other photo), and a metadata CSV for them, given to every run (the duplicate pair gets two
different rows: the lower line must win); then ``--kills`` times, a ``python -m inspector_search add``
(sometimes a ``reindex``) is started as a subprocess and killed at a seeded random point: after a random
delay (start-up, scanning, embedding...), once a random number of photos are committed (the catalog is
polled through a read-only SQLite connection), or right after the last photo is committed (while PCA and
index are saved), or, once every photo is in, with the keypoint records dropped (an archive made
before them) so that the kill lands in ``add``'s fill pass. A last ``add`` runs to completion and
the archive is verified (:func:`verify`): every photo in the catalog exactly once, file rows equal
to the files on disk, each file's content hash as recorded, features and keypoints for every live
photo, the index on disk holding exactly the live photos and built with the projection on disk,
``check`` clean, each sampled photo found first by a search for itself, every photo with the
metadata of its CSV row, and a re-run of the same add (CSV included) that changes nothing.

The reliability tests run three seeds of :func:`run_seed` (tests/reliability/test_killed.py); this
script runs many. From the project root (POSIX only: it sends SIGKILL)::

    python benchmarks/kill_loop.py                      # 10 seeds x 4 kills, 100 photos
    python benchmarks/kill_loop.py --seeds 200 --kills 6 --photos 240 --json kills.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inspector_search.core.archive import Archive
from inspector_search.core.projection import Projection
from inspector_search.core.records import SearchRequest
from inspector_search.core.vector_index import VectorIndex

ROOT = Path(__file__).resolve().parents[1]
NEU_DET = ROOT.parent / "shared" / "datasets" / "neu_det"
CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")
KILL_MODES = ("delay", "committed", "saving", "reindex")
RUN_TIMEOUT = 600.0


@dataclass
class Kill:
    """One killed run: what was running, how the kill point was chosen, and where it landed."""

    command: str
    mode: str
    after_seconds: float
    committed_files: int
    landed: bool  # False when the run had already finished by itself


@dataclass
class SeedResult:
    """What one seed did and every broken promise :func:`verify` found (empty when all is well)."""

    seed: int
    photos: int
    kills: list[Kill] = field(default_factory=list)
    final_report: dict = field(default_factory=dict)
    leftover_temp_files: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)


def make_photo_folder(target: Path, count: int, dataset: Path = NEU_DET) -> Path:
    """Copy ``count`` real photos (round-robin over the classes, sorted names) into ``target/<class>/``.
    The sorted names put ``patches_101.jpg`` and its byte-identical twin ``patches_105.jpg`` early."""
    per_class = {c: sorted((dataset / c).glob("*.jpg")) for c in CLASSES}
    chosen = [per_class[c][i] for i in range(count // len(CLASSES) + 1) for c in CLASSES][:count]
    for source in chosen:
        (target / source.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.parent.name / source.name)
    return target


ODD_NAMES = (b"caf\xe9.jpg", b"r\xf6hre-\xfc.jpg")
"""File names a Latin-1 machine writes: not UTF-8 (POSIX file names are bytes)."""


def add_odd_names(photos: Path) -> list[bytes]:
    """Copy two photos under names that are not UTF-8 into ``photos/odd/``; their byte paths."""
    folder = photos / "odd"
    folder.mkdir(exist_ok=True)
    sources = sorted(photos.rglob("*.jpg"))[:len(ODD_NAMES)]
    made = []
    for source, name in zip(sources, ODD_NAMES, strict=True):
        target = os.path.join(os.fsencode(folder), name)
        shutil.copy2(source, target)
        made.append(target)
    return made


def storable_files(photos: Path) -> list[Path]:
    """The photo files an add must take in: all but the names that are not UTF-8."""
    return [p for p in sorted(photos.rglob("*.jpg")) if str(p).encode("utf-8", "surrogateescape") ==
            str(p).encode("utf-8", "replace")]


def write_metadata_csv(photos: Path, target: Path) -> dict[str, tuple[int, str]]:
    """A CSV with one row per storable photo file (sorted); path -> (its line, its equipment tag)."""
    rows = {}
    lines = ["path,equipment_tag,site,inspected_on,inspector,notes"]
    for n, path in enumerate(storable_files(photos)):
        tag = f"E-{n % 9}"
        lines.append(f"{path},{tag},Site {n % 3},2024-0{1 + n % 9}-1{n % 10},Inspector {n % 4},row {n}")
        rows[str(path)] = (len(lines), tag)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def cli(archive: Path, *args: str) -> list[str]:
    """The command line of the real CLI as a subprocess."""
    return [sys.executable, "-m", "inspector_search", "--archive", str(archive), *args]


def committed_files(archive: Path) -> int:
    """Files rows committed so far, read through a read-only connection (0 before the catalog exists)."""
    path = archive / "catalog.sqlite"
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM files WHERE deleted = 0").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet, or the schema is being created this moment
        return 0


def _kill_when(proc: subprocess.Popen, archive: Path, mode: str, target: int, delay: float) -> tuple[float, bool]:
    """Wait for the kill point of ``mode`` (or the process's own end), then SIGKILL; (seconds waited,
    whether the process was still running)."""
    started = time.perf_counter()
    while proc.poll() is None:
        waited = time.perf_counter() - started
        if mode in ("delay", "reindex", "keypoints") and waited >= delay:
            break
        if mode in ("committed", "saving") and committed_files(archive) >= target:
            break
        if waited > RUN_TIMEOUT:
            break
        time.sleep(0.01)
    landed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.perf_counter() - started, landed


def killed_run(archive: Path, photos: Path, rng: random.Random, total_files: int, metadata: Path) -> Kill:
    """Start one ``add`` (or ``reindex``) and SIGKILL it at a random point chosen by ``rng``."""
    already = committed_files(archive)
    mode = rng.choice(KILL_MODES if already < total_files else ("delay", "reindex", "keypoints"))
    if mode == "reindex" and already == 0:
        mode = "delay"
    if mode == "keypoints":  # the archive as a version before keypoints left it: the add's fill pass is killed
        _forget_keypoints(archive)
    command = "reindex" if mode == "reindex" else "add"
    args = ("reindex",) if command == "reindex" else ("add", str(photos), "--metadata", str(metadata), "--json")
    target = total_files if mode == "saving" else rng.randint(already + 1, max(already + 1, total_files))
    # about the length of the run: start-up (~1-2 s) plus ~0.05 s per photo still to embed
    delay = rng.uniform(0.2, 1.5 + 0.06 * (total_files - already)) if mode == "delay" else rng.uniform(0.5, 4.0)
    if mode == "keypoints":
        delay = rng.uniform(0.5, 1.5 + 0.02 * total_files)  # start-up, scanning, then ~15 ms per photo
    proc = subprocess.Popen(cli(archive, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds, landed = _kill_when(proc, archive, mode, target, delay)
    return Kill(command, mode, round(seconds, 2), committed_files(archive), landed)


def _forget_keypoints(archive: Path) -> None:
    """Drop every keypoint record, as in an archive made before geometric verification."""
    conn = sqlite3.connect(archive / "catalog.sqlite", timeout=30)
    try:
        with conn:
            conn.execute("DELETE FROM local_features")
    finally:
        conn.close()


def run_seed(seed: int, workdir: Path, photo_count: int = 100, kills: int = 3) -> SeedResult:
    """One seed: ``kills`` killed runs, one run to completion, then :func:`verify`."""
    started = time.perf_counter()
    rng = random.Random(seed)
    photos = make_photo_folder(workdir / f"photos-{seed}", photo_count)
    odd = add_odd_names(photos)
    metadata = workdir / f"export-{seed}.csv"
    rows = write_metadata_csv(photos, metadata)
    archive = workdir / f"archive-{seed}"
    result = SeedResult(seed, photo_count)
    for _ in range(kills):
        result.kills.append(killed_run(archive, photos, rng, photo_count, metadata))
    completing = cli(archive, "add", str(photos), "--metadata", str(metadata), "--json")
    final = subprocess.run(completing, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if final.returncode != 0:
        result.violations.append(f"the completing add failed (exit {final.returncode}): {final.stderr.strip()}")
        return result
    result.final_report = json.loads(final.stdout)
    result.leftover_temp_files = sum(1 for p in archive.iterdir() if p.name.endswith(".tmp"))
    result.violations += verify(archive, photos)
    result.violations += _name_violations(result.final_report, odd)
    result.violations += _metadata_violations(archive, rows)
    rerun = subprocess.run(completing, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    again = json.loads(rerun.stdout) if rerun.returncode == 0 else {}
    if (again.get("added"), again.get("updated_metadata")) != (0, 0):
        result.violations.append(f"a re-run of the same add changed something: {again or rerun.stderr.strip()}")
    result.seconds = round(time.perf_counter() - started, 1)
    return result


def _name_violations(report: dict, odd: list[bytes]) -> list[str]:
    """Each file whose name is not UTF-8 is skipped with its reason."""
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    shown = {p.decode("utf-8", "backslashreplace") for p in odd}
    if set(skipped) != shown or not all(r.startswith("file name is not valid UTF-8") for r in skipped.values()):
        return [f"files whose names are not UTF-8 were not skipped with their reason: {skipped}"]
    return []


def _metadata_violations(archive: Path, rows: dict[str, tuple[int, str]]) -> list[str]:
    """Every photo carries the equipment of its CSV row; byte-identical files, that of the lowest line."""
    conn = sqlite3.connect(f"{(archive / 'catalog.sqlite').absolute().as_uri()}?mode=ro", uri=True)
    try:
        found = dict(conn.execute("SELECT f.path, e.tag FROM files f JOIN images i ON i.id = f.image_id "
                                  "LEFT JOIN equipment e ON e.id = i.equipment_id WHERE f.deleted = 0"))
        photo_of = dict(conn.execute("SELECT path, image_id FROM files WHERE deleted = 0"))
    finally:
        conn.close()
    winner: dict[int, tuple[int, str]] = {}
    for path, (line, tag) in rows.items():
        image = photo_of.get(path)
        if image is not None and (image not in winner or line < winner[image][0]):
            winner[image] = (line, tag)
    wrong = [Path(p).name for p, image in photo_of.items() if found.get(p) != winner.get(image, (0, None))[1]]
    return [f"{len(wrong)} photos lack the equipment of their CSV row, e.g. {wrong[:3]}"] if wrong else []


def verify(archive: Path, photos: Path) -> list[str]:
    """Every promise about a finished archive that does not hold, as sentences (empty: all is well)."""
    on_disk = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in storable_files(photos)}
    conn = sqlite3.connect(f"{(archive / 'catalog.sqlite').absolute().as_uri()}?mode=ro", uri=True)
    try:
        problems = _catalog_violations(conn, on_disk)
        live = {r[0] for r in conn.execute("SELECT i.id FROM images i JOIN features f ON f.image_id = i.id "
                                           "WHERE i.deleted = 0")}
        generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
    finally:
        conn.close()
    problems += _index_violations(archive, live, generation)
    with Archive.open(archive) as opened:
        report = opened.check()
        problems += [f"check: {p}" for p in (*report.problems, *report.unrepairable)]
        problems += _search_violations(opened, sorted(on_disk)[:: max(1, len(on_disk) // 5)])
    return problems


def _catalog_violations(conn: sqlite3.Connection, on_disk: dict[str, str]) -> list[str]:
    """Each photo exactly once; file rows == files on disk, each pointing at its content's photo."""
    problems = []
    total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM images").fetchone()
    if not total == distinct == len(set(on_disk.values())):
        problems.append(f"{total} photo rows, {distinct} distinct contents, {len(set(on_disk.values()))} on disk")
    rows = conn.execute("SELECT f.path, i.content_hash, i.deleted FROM files f JOIN images i ON i.id = f.image_id "
                        "WHERE f.deleted = 0").fetchall()
    recorded = {path: content for path, content, _deleted in rows}
    if len(rows) != len(recorded) or recorded != on_disk:
        problems.append(f"file rows ({len(rows)}) do not match the {len(on_disk)} files on disk and their contents")
    if any(deleted for _p, _c, deleted in rows):
        problems.append("a live file belongs to a photo marked deleted")
    lacking = conn.execute("SELECT COUNT(*) FROM images i WHERE i.deleted = 0 AND NOT EXISTS "
                           "(SELECT 1 FROM features f WHERE f.image_id = i.id)").fetchone()[0]
    if lacking:
        problems.append(f"{lacking} live photos have no features")
    no_keypoints = conn.execute("SELECT COUNT(*) FROM images i WHERE i.deleted = 0 AND NOT EXISTS "
                                "(SELECT 1 FROM local_features l WHERE l.image_id = i.id)").fetchone()[0]
    if no_keypoints:
        problems.append(f"{no_keypoints} live photos have no keypoints after a completed add")
    return problems


def _index_violations(archive: Path, live: set[int], generation: int) -> list[str]:
    """The index file holds exactly the live photos, built with the projection file, up to date."""
    state = json.loads((archive / "index.json").read_text(encoding="utf-8"))
    projection_path = archive / "projection.npz"
    projection = Projection.load(projection_path) if projection_path.exists() else Projection.identity(state["dim"])
    problems = []
    if state["projection_id"] != projection.projection_id:
        problems.append("index.json names another projection than projection.npz")
    if state["generation"] != generation:
        problems.append(f"index.json is at generation {state['generation']}, the catalog at {generation}")
    ids = set(VectorIndex.load(archive / "index.hnsw", projection.out_dim).ids().tolist())
    if ids != live:
        problems.append(f"index ids differ from the live photos: {len(ids - live)} extra, {len(live - ids)} missing")
    return problems


def _search_violations(archive: Archive, queries: list[str]) -> list[str]:
    ids = dict(archive.catalog.conn.execute("SELECT path, image_id FROM files WHERE deleted = 0").fetchall())
    problems = []
    for query in queries:
        hits = archive.search(SearchRequest(image=Path(query), top_k=3))
        if not hits or hits[0].photo.image_id != ids[query] or hits[0].score < 0.99:
            problems.append(f"a search for {Path(query).name} does not find the photo itself first")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds (default 10)")
    parser.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--kills", type=int, default=4, help="killed runs per seed before the last (default 4)")
    parser.add_argument("--photos", type=int, default=100,
                        help="photos per seed (default 100; 200+ makes add itself fit the PCA)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every seed's result as JSON")
    args = parser.parse_args(argv)
    if not NEU_DET.is_dir():
        print(f"dataset folder {NEU_DET} is absent", file=sys.stderr)
        return 2
    results = []
    print(f"{'seed':>5} {'kills (mode@seconds:committed)':<64} {'added':>5} {'tmp':>3} {'s':>6}  verdict")
    with tempfile.TemporaryDirectory(prefix="kill-loop-") as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            result = run_seed(seed, Path(tmp), args.photos, args.kills)
            results.append(result)
            kills = " ".join(f"{k.mode}@{k.after_seconds:.1f}:{k.committed_files}{'' if k.landed else '(done)'}"
                             for k in result.kills)
            verdict = "ok" if not result.violations else "; ".join(result.violations)
            print(f"{seed:>5} {kills:<64} {result.final_report.get('added', '-'):>5} "
                  f"{result.leftover_temp_files:>3} {result.seconds:>6.1f}  {verdict}")
    modes = Counter(k.mode for r in results for k in r.kills if k.landed)
    missed = sum(not k.landed for r in results for k in r.kills)
    failed = [r.seed for r in results if r.violations]
    print(f"\n{len(results)} seeds, {sum(modes.values())} kills of a running process "
          f"({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))}), {missed} runs ended before their kill "
          f"point; seeds with violations: {failed or 'none'}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
