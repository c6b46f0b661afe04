"""The HTTP API over a shared archive (PostgreSQL + pgvector): the same routes, the same answers as the
façade gives, its tokens in the archive's local folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from api.conftest import Served, live_server, tokens_for
from conftest import plant_folder

from inspector_search.core.archive import init_shared_archive

LAYOUT = "{site}/{equipment}/{date}"


@pytest.fixture(scope="module")
def shared(pg_server, tmp_path_factory: pytest.TempPathFactory):
    from inspector_search.core.shared_archive import SharedArchive

    plant = plant_folder(tmp_path_factory.mktemp("plant"))
    url = pg_server.create_database("api_backend")
    init_shared_archive(url)
    archive = SharedArchive.open(url, staging=tmp_path_factory.mktemp("staging"))
    archive.add([plant], layout=LAYOUT)
    yield archive, plant
    archive.close()


def test_search_status_history_and_thumbnails_over_a_shared_archive(shared) -> None:
    archive, plant = shared
    read, _ = tokens_for(archive.folder)
    query = sorted(plant.rglob("*.jpg"))[4]
    with live_server(archive) as url, Served(url, archive, read, "").client() as client:
        found = client.post("/v1/search", files=[("images", (query.name, query.read_bytes(), "image/jpeg"))],
                            data={"top_k": "3", "site": "north"})
        status = client.get("/v1/status")
        history = client.get(f"/v1/equipment/{query.parents[1].name}/history")
        first = found.json()["queries"][0]["results"][0]
        thumbnail = client.get(f"/v1/photos/{first['image_id']}/thumbnail", params={"size": 64})
        original = client.get(f"/v1/photos/{first['image_id']}/image")
        anonymous = client.get("/v1/status", headers={"Authorization": "Bearer isk_nope"})
    assert found.status_code == 200, found.text
    assert Path(first["path"]).name == query.name and first["site"] == "North"
    assert status.status_code == 200 and status.json()["photos"] == 18
    assert history.status_code == 200 and history.json()["equipment"]["tag"] == query.parents[1].name
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert original.status_code == 501 and original.json()["error"]["code"] == "not_available"
    assert anonymous.status_code == 401
