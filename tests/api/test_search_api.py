"""POST /v1/search, /v1/status and /v1/health on a real server: the answers are the CLI's."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .conftest import Served


def photos_of(plant: tuple[Path, Path]) -> list[Path]:
    return sorted(plant[1].rglob("*.jpg"))


def upload(*paths: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_search_finds_the_query_photo_first_with_its_metadata(served: Served, plant: tuple[Path, Path]) -> None:
    query = photos_of(plant)[5]
    with served.client() as client:
        answer = client.post("/v1/search", files=upload(query), data={"top_k": "5"})
    assert answer.status_code == 200, answer.text
    (only,) = answer.json()["queries"]
    assert only["query"] == query.name and len(only["results"]) == 5
    first = only["results"][0]
    assert first["path"] == str(query) and first["rank"] == 1 and first["score"] > 0.99
    assert first["equipment_tag"] == query.parents[1].name and first["site"] == query.parents[2].name
    assert [r["rank"] for r in only["results"]] == [1, 2, 3, 4, 5]


def test_several_images_and_filters(served: Served, plant: tuple[Path, Path]) -> None:
    queries = photos_of(plant)[:3]
    with served.client() as client:
        answer = client.post("/v1/search", files=upload(*queries),
                             data={"top_k": "4", "site": "South", "since": "2024-01-01"})
    assert answer.status_code == 200, answer.text
    entries = answer.json()["queries"]
    assert [e["query"] for e in entries] == [q.name for q in queries]
    for entry in entries:
        assert entry["results"], entry
        assert all(r["site"] == "South" and r["inspected_on"] >= "2024-01-01" for r in entry["results"])


def test_by_equipment_ranks_each_equipment_once(served: Served, plant: tuple[Path, Path]) -> None:
    with served.client() as client:
        answer = client.post("/v1/search", files=upload(photos_of(plant)[0]), data={"by_equipment": "true"})
    results = answer.json()["queries"][0]["results"]
    assert len({r["equipment_tag"] for r in results}) == len(results) == 4
    assert sum(r["match_count"] for r in results) >= 4


def cli_search(archive: Path, *args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(archive), "search", *args,
                           "--json"], capture_output=True, text=True, timeout=300, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_api_answer_equals_the_cli_answer(served: Served, plant: tuple[Path, Path]) -> None:
    queries = photos_of(plant)[3:5]
    options = {"top_k": "7", "equipment": "P-102", "rotations": "true", "crop": "0.1,0.1,0.9,0.8"}
    with served.client() as client:
        api = client.post("/v1/search", files=upload(*queries), data=options).json()["queries"]
    cli = cli_search(plant[0], *map(str, queries), "-k", "7", "--equipment", "P-102", "--rotations",
                     "--crop", "0.1,0.1,0.9,0.8")
    assert [q["results"] for q in api] == [q["results"] for q in cli]
    assert all(r["equipment_tag"] == "P-102" for q in api for r in q["results"]) and api[0]["results"]

    with served.client() as client:
        grouped = client.post("/v1/search", files=upload(queries[0]), data={"by_equipment": "1", "expansion": "0"})
    assert grouped.json()["queries"][0]["results"] == cli_search(plant[0], str(queries[0]), "--by-equipment",
                                                                 "--expansion", "0")[0]["results"]


def test_status_is_the_cli_status_and_health_says_ok(served: Served, plant: tuple[Path, Path]) -> None:
    with served.client() as client:
        status = client.get("/v1/status").json()
        health = client.get("/v1/health").json()
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(plant[0]), "status", "--json"],
                          capture_output=True, text=True, timeout=300, check=True)
    assert status == json.loads(proc.stdout)
    assert status["photos"] == 24 and status["index"]["count"] == 24
    assert health["status"] == "ok"


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_bad_search_inputs_get_a_4xx_json_error_naming_the_problem(served: Served) -> None:
    cases = [
        ({"files": [("images", ("notes.txt", b"hello, not a photo", "text/plain"))]}, 400, "notes.txt"),
        ({"files": [("images", ("empty.jpg", b"", "image/jpeg"))]}, 400, "empty.jpg"),
        ({"files": [("images", ("cut.jpg", jpeg((300, 300))[:200], "image/jpeg"))]}, 400, "cut.jpg"),
        ({"files": [("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))], "data": {"top_k": "0"}}, 422, "top_k"),
        ({"files": [("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))], "data": {"top_k": "ten"}}, 422, "top_k"),
        ({"files": [("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))], "data": {"since": "last week"}}, 422,
         "since"),
        ({"files": [("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))], "data": {"crop": "1,2"}}, 400, "crop"),
        ({"files": [("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))], "data": {"crop": "0.5,0.5,0.2,0.2"}}, 400,
         "crop"),
        ({"files": [("images", ("a.jpg", jpeg((64, 64)), "image/jpeg"))], "data": {"min_score": "2"}}, 422,
         "min_score"),
        ({"data": {"top_k": "3"}}, 422, "images"),
        ({"content": b"{not multipart", "headers": {"Content-Type": "application/json"}}, 422, "images"),
    ]
    with served.client() as client:
        for kwargs, status, named in cases:
            answer = client.post("/v1/search", **kwargs)
            assert answer.status_code == status, (kwargs, answer.text)
            error = answer.json()["error"]
            assert named in error["message"] and error["code"], (kwargs, error)
            assert "Traceback" not in answer.text


def test_unknown_routes_and_methods_are_json_errors(served: Served) -> None:
    with served.client("write") as client:
        missing = client.get("/v1/nothing-here")
        wrong = client.delete("/v1/status")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_text_search_alone_and_with_an_image_equals_the_cli(served: Served, plant: tuple[Path, Path]) -> None:
    query = photos_of(plant)[2]
    with served.client() as client:
        alone = client.post("/v1/search", data={"text": "South", "top_k": "30"})
        both = client.post("/v1/search", files=upload(query), data={"text": "south", "top_k": "5"})
        neither = client.post("/v1/search", data={"top_k": "5"})
    assert alone.status_code == 200, alone.text
    (entry,) = alone.json()["queries"]
    assert entry["query"] is None and entry["text"] == "South"
    assert len(entry["results"]) == 12 and {r["site"] for r in entry["results"]} == {"South"}
    assert entry["results"] == cli_search(plant[0], "--text", "South", "-k", "30")[0]["results"]
    assert both.json()["queries"][0]["results"] == cli_search(plant[0], str(query), "--text", "south",
                                                              "-k", "5")[0]["results"]
    assert neither.status_code == 422 and "text" in neither.json()["error"]["message"]


def test_filter_names_are_matched_as_the_cli_matches_them(served: Served, plant: tuple[Path, Path]) -> None:
    query = photos_of(plant)[0]
    with served.client() as client:
        lower = client.post("/v1/search", files=upload(query), data={"site": "north", "top_k": "3"})
        unknown = client.post("/v1/search", files=upload(query), data={"site": "Nort-East"})
    assert lower.status_code == 200 and {r["site"] for r in lower.json()["queries"][0]["results"]} == {"North"}
    assert unknown.status_code == 400 and "Nort-East" in unknown.json()["error"]["message"]


def test_more_and_less_like_this_equal_the_cli(served: Served, plant: tuple[Path, Path]) -> None:
    photos = photos_of(plant)
    ids = served.archive.files_below(plant[1])
    liked, unliked = ids[photos[10]], ids[photos[20]]
    with served.client() as client:
        refined = client.post("/v1/search", files=upload(photos[0]),
                              data={"like": [str(liked)], "unlike": [str(unliked)], "top_k": "6"})
        alone = client.post("/v1/search", data={"like": [str(liked), str(ids[photos[11]])], "top_k": "6"})
        unknown = client.post("/v1/search", data={"like": ["999999"]})
        malformed = client.post("/v1/search", data={"like": ["first"]})
    assert refined.status_code == 200, refined.text
    assert refined.json()["queries"][0]["results"] == cli_search(
        plant[0], str(photos[0]), "--like", str(liked), "--unlike", str(unliked), "-k", "6")[0]["results"]
    assert alone.json()["queries"][0]["results"] == cli_search(
        plant[0], "--like", str(liked), "--like", str(ids[photos[11]]), "-k", "6")[0]["results"]
    assert unknown.status_code == 400 and "999999" in unknown.json()["error"]["message"]
    assert malformed.status_code == 422 and "like" in malformed.json()["error"]["message"]


def test_an_unexpected_failure_is_a_json_500_without_a_trace(served: Served, monkeypatch) -> None:  # noqa: ANN001
    def broken() -> None:
        raise RuntimeError("secret internals /home/user/archive")

    monkeypatch.setattr(served.archive, "status", broken)
    with served.client() as client:
        answer = client.get("/v1/status")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret" not in answer.text and "Traceback" not in answer.text


def test_without_geometric_verification_equals_cli_no_verify(served: Served, plant: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    original = photos_of(plant)[9]
    image = Image.open(original)
    w, h = image.size
    query = tmp_path / "reshot.jpg"  # the same spot photographed again: a shifted crop, re-encoded
    image.crop((w // 8, h // 10, w - w // 12, h - h // 8)).resize((w, h)).save(query, quality=85)
    with served.client() as client:
        verified = client.post("/v1/search", files=upload(query), data={"top_k": "5"}).json()["queries"][0]
        plain = client.post("/v1/search", files=upload(query), data={"top_k": "5", "verify": "false"}).json()
    results = plain["queries"][0]["results"]
    assert results == cli_search(plant[0], str(query), "-k", "5", "--no-verify")[0]["results"]
    assert all(r["inliers"] == 0 and not r["same_object"] for r in results)
    found = next(r for r in verified["results"] if r["path"] == str(original))
    assert found["inliers"] > 0, verified  # with verification the re-shot spot's keypoints match
