"""GET /v1/photos/{id}, its thumbnail and image, and /v1/equipment/{tag}/history on a real server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .conftest import Served


def test_photo_metadata_thumbnail_and_image(served: Served, plant: tuple[Path, Path]) -> None:
    path = sorted(plant[1].rglob("*.jpg"))[7]
    image_id = served.archive.files_below(plant[1])[path]
    with served.client() as client:
        meta = client.get(f"/v1/photos/{image_id}")
        thumb = client.get(f"/v1/photos/{image_id}/thumbnail", params={"size": 64})
        original = client.get(f"/v1/photos/{image_id}/image")
    assert meta.status_code == 200
    body = meta.json()
    assert body["image_id"] == image_id and body["path"] == str(path)
    assert body["equipment_tag"] == path.parents[1].name and body["inspected_on"] == path.parent.name
    assert body["width"] == body["height"] == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 64
    assert original.content == path.read_bytes()


def test_history_is_the_cli_history(served: Served, plant: tuple[Path, Path]) -> None:
    with served.client() as client:
        answer = client.get("/v1/equipment/P-103/history")
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(plant[0]), "history", "P-103",
                           "--json"], capture_output=True, text=True, timeout=300, check=True)
    assert answer.status_code == 200 and answer.json() == json.loads(proc.stdout)
    assert answer.json()["equipment"]["photo_count"] == 6


def test_unknown_or_malformed_ids_are_404_or_422(served: Served) -> None:
    with served.client() as client:
        for path, status in (("/v1/photos/999999", 404), ("/v1/photos/999999/image", 404),
                             ("/v1/photos/999999/thumbnail", 404), ("/v1/photos/0", 422), ("/v1/photos/-3", 422),
                             ("/v1/photos/abc", 422), ("/v1/photos/1.5/image", 422),
                             ("/v1/photos/1/thumbnail?size=100000", 422), ("/v1/equipment/NOPE/history", 404),
                             ("/v1/photos/..%2F..%2Fetc%2Fpasswd/image", 404), ("/v1/photos/%2e%2e/image", 422)):
            answer = client.get(path)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["error"]["message"], path


def test_an_archive_photo_whose_file_vanished_or_changed_is_a_410(served: Served, plant: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    from inspector_search.core.archive import Archive

    from .conftest import live_server, tokens_for

    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted(plant[1].rglob("*.jpg"))[:3]:
        (photos / source.name).write_bytes(source.read_bytes())
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([photos])
        victim, swapped, changed = sorted(photos.iterdir())
        ids = archive.files_below(photos)
        victim.unlink()
        secret = tmp_path / "secret.txt"
        secret.write_text("not an archive photo")
        swapped.unlink()
        swapped.symlink_to(secret)  # the photo replaced by a link to another file
        with changed.open("ab") as handle:
            handle.write(b"\0" * 10)
        read, _ = tokens_for(archive.folder)
        with live_server(archive) as url, Served(url, archive, read, "").client() as client:
            image = client.get(f"/v1/photos/{ids[victim]}/image")
            thumb = client.get(f"/v1/photos/{ids[victim]}/thumbnail")
            link = client.get(f"/v1/photos/{ids[swapped]}/image")
            grown = client.get(f"/v1/photos/{ids[changed]}/image")
    assert image.status_code == 410 and str(victim) in image.json()["error"]["message"]
    assert thumb.status_code == 410 and thumb.json()["error"]["code"] == "image_unreadable"
    for answer in (link, grown):
        assert answer.status_code == 410 and "changed since it was added" in answer.json()["error"]["message"]
    assert "not an archive photo" not in link.text
