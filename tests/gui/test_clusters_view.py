"""The Clusters view: computed on a worker with progress when the archive has none, clusters listed
largest first with their typical photos, a whole cluster labelled at once."""

from __future__ import annotations

from pathlib import Path

from inspector_search.core.archive import Archive
from inspector_search.gui.main_window import MainWindow

from .conftest import LAYOUT


def test_clusters_are_computed_shown_and_labelled_whole(qtbot, settings, plant_photos: Path, tmp_path: Path) -> None:
    with Archive.open(tmp_path / "archive") as archive:
        archive.add([plant_photos], layout=LAYOUT)
        window = MainWindow(archive, settings)
        qtbot.addWidget(window)
        window.clusters_action.trigger()
        dialog = window.last_clusters
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: dialog.clusters.rowCount() > 0, timeout=120000)
        report = archive.clusters()
        assert dialog.clusters.rowCount() == len(report.clusters) >= 2
        sizes = [c.size for c in dialog.clusters.clusters]
        assert sizes == sorted(sizes, reverse=True) and sum(sizes) == report.photos
        first = dialog.clusters.clusters[0]
        assert dialog.photos.rowCount() == len(first.typical) > 0
        assert dialog.clusters.index(0).data().startswith(f"Cluster {first.cluster} · {first.size} photos")
        dialog.grab().save(str(tmp_path / "clusters.png"))

        dialog.kind.setCurrentIndex(0)  # defect
        dialog.value.setText("corrosion")
        with qtbot.waitSignal(dialog.labelled, timeout=30000) as labelled:
            dialog.label_button.click()
        assert labelled.args[0].added == first.size
        members = archive.cluster_photos(first.cluster)
        assert all(p.label_values("defect") == ["corrosion"] for p in archive.photos(members))
        qtbot.waitUntil(lambda: "corrosion" in (dialog.clusters.index(0).data() or ""), timeout=30000)
        dialog.close()
        window.shutdown()
