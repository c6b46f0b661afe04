"""Uploads and imports as background jobs on a real server: progress, results, cancel, refusals, and
reads confined to the archive and the configured import folders."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import INSULATORS, require

from inspector_search.api.settings import ServerSettings

from .conftest import Served, copy_photos, wait_for_job


def test_an_uploaded_photo_is_stored_added_with_its_metadata_and_found(writable: Served) -> None:
    photo = sorted(require(INSULATORS).glob("*.jpg"))[0]
    fields = {"equipment_tag": "L-7", "site": "East", "inspected_on": "2025-01-02", "inspector": "A. Lee",
              "notes": "insulator string, no flashover"}
    with writable.client("write") as client:
        answer = client.post("/v1/photos", files={"image": ("../../escape.jpg", photo.read_bytes(), "image/jpeg")},
                             data=fields)
        assert answer.status_code == 202, answer.text
        assert answer.headers["location"] == f"/v1/jobs/{answer.json()['id']}"
        job = wait_for_job(client, answer.json()["id"])
        assert job["state"] == "done" and job["result"]["added"] == 1, job
        image_id = job["result"]["image_id"]
        record = client.get(f"/v1/photos/{image_id}").json()
        found = client.post("/v1/search", files=[("images", ("q.jpg", photo.read_bytes(), "image/jpeg"))],
                            data={"top_k": "1"}).json()
    assert {k: record[k] for k in fields} == fields
    stored = Path(record["path"])
    assert stored.parent.parent == writable.archive.folder / "uploads" and stored.name.endswith("-escape.jpg")
    assert stored.read_bytes() == photo.read_bytes()
    kept_csv = stored.with_name(stored.name + ".csv")  # named by adds.json, for restoring a damaged catalog
    assert "L-7" in kept_csv.read_text(encoding="utf-8")
    assert str(kept_csv) in (writable.archive.folder / "adds.json").read_text(encoding="utf-8")
    assert not (writable.archive.folder.parent / "escape.jpg").exists()
    assert found["queries"][0]["results"][0]["image_id"] == image_id
    assert list((writable.archive.folder / "uploads" / ".staging").iterdir()) == []


def test_an_import_job_adds_a_folder_and_reports_progress(writable: Served) -> None:
    copy_photos(Path(writable.archive.folder.parent / "imports" / "batch"), 12)
    with writable.client("write") as client:
        answer = client.post("/v1/imports", json={"folder": "batch"})
        assert answer.status_code == 202, answer.text
        job = wait_for_job(client, answer.json()["id"])
        listed = client.get("/v1/jobs").json()
        status = client.get("/v1/status").json()
    assert job["state"] == "done" and job["result"]["added"] == 12 and job["runs"] == 1
    assert job["progress"]["done"] == job["progress"]["total"] == 12
    assert listed[0]["id"] == job["id"]
    assert status["photos"] == 24 + 12


def test_read_tokens_cannot_write(writable: Served) -> None:
    with writable.client("read") as client:
        for answer in (client.post("/v1/imports", json={"folder": "x"}),
                       client.post("/v1/photos", files={"image": ("a.jpg", b"x", "image/jpeg")}),
                       client.delete("/v1/jobs/0123456789abcdef")):
            assert answer.status_code == 403, answer.text
            assert "write" in answer.json()["error"]["message"]


def test_imports_cannot_reach_outside_the_import_folders(writable: Served, plant: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    copy_photos(imports / "ok", 2)
    outside = plant[1]  # real photos the server must not read through an import
    (imports / "linked").mkdir()
    (imports / "linked" / "elsewhere").symlink_to(outside, target_is_directory=True)
    (imports / "to-outside").symlink_to(outside, target_is_directory=True)
    (imports / "ok" / "stray.jpg").symlink_to(sorted(outside.rglob("*.jpg"))[0])
    cases = [
        ({"folder": "../"}, 403), ({"folder": "ok/../../"}, 403), ({"folder": str(outside)}, 403),
        ({"folder": "/etc"}, 403), ({"folder": "to-outside"}, 403), ({"folder": "linked"}, 403),
        ({"folder": "ok"}, 403),  # holds a symlink to a photo outside
        ({"folder": "..%2F..%2F"}, 400), ({"folder": "%2e%2e"}, 400), ({"folder": "ok\x00"}, 400),
        ({"folder": "missing"}, 404), ({"folder": "ok", "metadata": "../../archive/catalog.sqlite"}, 403),
        ({"folder": 7}, 422), ({}, 422),
    ]
    before = writable.archive.status().photos
    with writable.client("write") as client:
        for body, status in cases:
            answer = client.post("/v1/imports", json=body)
            assert answer.status_code == status, (body, answer.text)
            assert answer.json()["error"]["message"], body
        assert client.get("/v1/jobs").json() == []
    assert writable.archive.status().photos == before


def test_imports_are_refused_when_no_import_folder_is_configured(served: Served) -> None:
    with served.client("write") as client:
        answer = client.post("/v1/imports", json={"folder": "/tmp"})
    assert answer.status_code == 403 and "--import-folder" in answer.json()["error"]["message"]


def test_jobs_queue_up_to_the_limit_and_cancel(writable: Served, tmp_path: Path) -> None:
    copy_photos(tmp_path / "imports" / "big", 150)
    copy_photos(tmp_path / "imports" / "small", 3, start=150)
    with writable.client("write") as client:
        big = client.post("/v1/imports", json={"folder": "big"}).json()
        small = client.post("/v1/imports", json={"folder": "small"}).json()
        refused = client.post("/v1/imports", json={"folder": "small"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_jobs"
        wait_for_job(client, big["id"], check=lambda j: j["progress"]["done"] > 0)
        assert client.delete(f"/v1/jobs/{small['id']}").json()["state"] == "cancelled"  # still queued
        assert client.delete(f"/v1/jobs/{big['id']}").status_code == 202
        stopped = wait_for_job(client, big["id"])
        again = client.delete(f"/v1/jobs/{big['id']}")
        missing = client.get("/v1/jobs/0123456789abcdef")
        bad = client.get("/v1/jobs/..%2F..%2Fapi_tokens")
    assert stopped["state"] == "cancelled" and stopped["result"]["cancelled"] is True
    assert stopped["result"]["added"] < 150
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"
    assert missing.status_code == 404 and bad.status_code == 404
    assert wait_for_job(writable.client(), small["id"])["state"] == "cancelled"
    assert writable.archive.status().photos == 24 + stopped["result"]["added"]


def test_a_bad_upload_is_refused_and_leaves_nothing_behind(writable: Served) -> None:
    with writable.client("write") as client:
        for files, data, status in (({"image": ("notes.txt", b"plain text", "text/plain")}, {}, 400),
                                    ({"image": ("a.jpg", b"", "image/jpeg")}, {}, 400),
                                    ({}, {"site": "East"}, 422),
                                    ({"image": ("a.jpg", b"x", "image/jpeg")}, {"inspected_on": "yesterday"}, 422)):
            answer = client.post("/v1/photos", files=files, data=data)
            assert answer.status_code == status, answer.text
        assert client.get("/v1/jobs").json() == []
    uploads = writable.archive.folder / "uploads"
    assert not uploads.exists() or [p for p in uploads.rglob("*") if p.is_file()] == []
    assert os.path.isdir(writable.archive.folder)


def test_an_upload_lost_with_a_killed_server_is_reported_interrupted(plant: tuple[Path, Path], tmp_path: Path) -> None:
    """A server killed after accepting an upload but before its staged copy was written: the job is
    found at the next start and reported, not silently dropped or run on nothing."""
    import json
    import shutil

    from inspector_search.core.archive import Archive

    from .conftest import live_server, tokens_for

    folder = tmp_path / "archive"
    shutil.copytree(plant[0], folder, ignore=shutil.ignore_patterns("api_tokens.json", "lock", "api_jobs"))
    (folder / "api_jobs").mkdir()
    record = {"id": "00000000000000aa", "kind": "upload", "state": "running", "created": "2026-01-01T00:00:00+00:00",
              "started": "2026-01-01T00:00:01+00:00", "finished": None,
              "progress": {"done": 0, "total": 1, "phase": "indexing"}, "result": None, "error": None, "runs": 1,
              "params": {"filename": "a.jpg", "metadata": {}, "sha256": "0" * 64,
                         "_staged": str(folder / "uploads" / ".staging" / "00000000000000aa-a.jpg")}}
    (folder / "api_jobs" / "00000000000000aa.json").write_text(json.dumps(record))
    read, _ = tokens_for(folder)
    with Archive.open(folder) as archive, live_server(archive) as url, Served(url, archive, read, "").client() as c:
        job = c.get("/v1/jobs/00000000000000aa").json()
    assert job["state"] == "interrupted" and "upload the photo again" in job["error"]
    assert "_staged" not in job["params"]


def test_searches_are_answered_while_an_import_runs(writable: Served, plant: tuple[Path, Path]) -> None:
    copy_photos(writable.archive.folder.parent / "imports" / "during", 120)
    query = sorted(plant[1].rglob("*.jpg"))[0]
    answers = []
    with writable.client("write") as client:
        job = client.post("/v1/imports", json={"folder": "during"}).json()
        while True:
            state = client.get(f"/v1/jobs/{job['id']}").json()
            answer = client.post("/v1/search", files=[("images", (query.name, query.read_bytes(), "image/jpeg"))],
                                 data={"top_k": "3"})
            answers.append((state["state"], answer.status_code, answer.json()))
            if state["state"] not in ("queued", "running"):
                break
    assert state["state"] == "done" and state["result"]["added"] == 120
    assert sum(1 for s, _, _ in answers if s == "running") >= 2  # searched while it ran
    for _state, status, body in answers:
        assert status == 200, body
        assert body["queries"][0]["results"][0]["path"] == str(query)


def test_a_second_server_on_the_same_archive_leaves_the_jobs_to_the_first(writable: Served) -> None:
    from .conftest import live_server

    copy_photos(writable.archive.folder.parent / "imports" / "two", 2)
    settings = ServerSettings(import_folders=(writable.archive.folder.parent / "imports",))
    with live_server(writable.archive, settings) as url, Served(url, writable.archive, writable.read,
                                                                 writable.write).client("write") as second:
        refused = second.post("/v1/imports", json={"folder": "two"})
        searched = second.get("/v1/status")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "jobs_elsewhere"
    assert searched.status_code == 200
    with writable.client("write") as first:
        job = first.post("/v1/imports", json={"folder": "two"})
        assert job.status_code == 202 and wait_for_job(first, job.json()["id"])["state"] == "done"


def test_upload_metadata_over_the_length_limits_is_refused(writable: Served, plant: tuple[Path, Path]) -> None:
    photo = sorted(plant[1].rglob("*.jpg"))[0].read_bytes()
    with writable.client("write") as client:
        for fields, named in (({"site": "x" * 501}, "site"), ({"notes": "n" * 100_001}, "notes")):
            answer = client.post("/v1/photos", files={"image": ("a.jpg", photo, "image/jpeg")}, data=fields)
            assert answer.status_code == 422 and named in answer.json()["error"]["message"], answer.text
        assert client.get("/v1/jobs").json() == []


def test_history_of_a_tag_holding_a_slash(writable: Served, plant: tuple[Path, Path]) -> None:
    from urllib.parse import quote

    photo = sorted(plant[1].rglob("*.jpg"))[1].read_bytes()
    with writable.client("write") as client:
        job = client.post("/v1/photos", files={"image": ("a.jpg", photo, "image/jpeg")},
                          data={"equipment_tag": "LINE-7/B", "inspected_on": "2025-02-03"}).json()
        assert wait_for_job(client, job["id"])["state"] == "done"
        history = client.get(f"/v1/equipment/{quote('LINE-7/B', safe='')}/history")
    assert history.status_code == 200, history.text
    assert history.json()["equipment"]["tag"] == "LINE-7/B"
    assert [i["inspected_on"] for i in history.json()["inspections"]] == ["2025-02-03"]
