"""End-to-end runs of the real ``inspector-search`` command as a subprocess, plus help-text checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import NEU_CLASSES, neu_sample, plant_folder

from inspector_search.cli import COMMANDS, build_parser


def run(*args: str, archive: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_SEARCH_ARCHIVE"}
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "--archive", str(archive), *args],
                          capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def test_every_command_has_help_text() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert set(COMMANDS) <= set(helps)
    for name, text in helps.items():
        assert text and len(text) > 10, name
        for action in sub.choices[name]._actions:
            if action.dest != "help" and action.option_strings:
                assert action.help, f"{name} {action.option_strings} has no help"


def test_add_search_history_status_end_to_end(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    photos = plant_folder(tmp_path / "photos", per_class=5, classes=NEU_CLASSES[:4])
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    added = json.loads(run("add", str(photos), "--layout", "{site}/{equipment}/{date}", "--json",
                           archive=archive).stdout)
    assert added["added"] == 20 and [s["path"] for s in added["skipped"]] == [str(photos / "broken.jpg")]

    queries = sorted(p for p in photos.rglob("*.jpg") if p.name != "broken.jpg")[::4]
    out = run("search", *map(str, queries), "--top-k", "5", "--json", archive=archive).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["query"] for line in lines] == [str(q) for q in queries]
    for query, line in zip(queries, lines, strict=True):
        first = line["results"][0]
        assert first["path"] == str(query) and first["rank"] == 1
        assert set(first) == {"rank", "score", "image_id", "path", "equipment_tag", "equipment_type", "site",
                              "inspected_on", "inspector", "notes", "labels", "inliers", "same_object",
                              "is_query"}
        assert first["is_query"] is True and not any(r["is_query"] for r in line["results"][1:])
        assert first["equipment_tag"] == query.parents[1].name and first["equipment_type"] is None

    grouped = json.loads(run("search", str(queries[0]), "--by-equipment", "--json", archive=archive).stdout)
    assert len({r["equipment_tag"] for r in grouped["results"]}) == len(grouped["results"]) == 4

    history = json.loads(run("history", "P-101", "--json", archive=archive).stdout)
    days = [i["inspected_on"] for i in history["inspections"]]
    assert days == sorted(days) and history["equipment"]["photo_count"] == 5

    status = json.loads(run("status", "--json", archive=archive).stdout)
    assert status["photos"] == 20 and status["index"]["count"] == 20
    assert status["skipped"][0]["reason"]
    assert "broken.jpg" in run("status", archive=archive).stdout

    again = json.loads(run("add", str(photos), "--json", archive=archive).stdout)
    assert again["added"] == 0 and again["unchanged"] == 20


def test_errors_are_one_line_messages_with_non_zero_exit(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (tmp_path / "none").mkdir()
    run("add", str(tmp_path / "none"), archive=archive)  # an empty archive
    proc = run("history", "NOPE", archive=archive, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "inspector-search: error: no equipment tagged 'NOPE' in this archive"
    text = tmp_path / "x.jpg"
    text.write_text("hello")
    proc = run("search", str(text), archive=archive, check=False)
    assert proc.returncode == 1 and "x.jpg" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("search", str(text), "--since", "yesterday", archive=archive, check=False)
    assert proc.returncode == 2 and "not a date" in proc.stderr
    for args, message in [(("add", str(tmp_path), "--workers", "-3"), "--workers: must be at least 1, got -3"),
                          (("reindex", "--dim", "0"), "--dim: must be at least 2, got 0"),
                          (("search", str(text), "--min-score", "2"), "a similarity is between -1 and 1, got 2.0")]:
        proc = run(*args, archive=archive, check=False)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_environment_variable_selects_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "from-env"
    env = dict(os.environ, INSPECTOR_SEARCH_ARCHIVE=str(archive))
    (tmp_path / "none").mkdir()
    subprocess.run([sys.executable, "-m", "inspector_search", "add", str(tmp_path / "none")], env=env, timeout=120,
                   check=False, capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "inspector_search", "status", "--json"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["archive"] == str(archive)
    assert (archive / "catalog.sqlite").is_file()


@pytest.mark.slow
def test_neu_det_queries_find_themselves_and_their_class(tmp_path: Path, neu_det: Path) -> None:
    """The issue's acceptance run: add all of NEU-DET, search 20 of its images, report P@10 per class."""
    archive = tmp_path / "archive"
    run("add", str(neu_det), "--json", archive=archive)
    queries = neu_sample(300)[::90][:20]
    out = run("search", *map(str, queries), "--top-k", "11", "--json", archive=archive).stdout
    per_class: dict[str, list[float]] = {}
    for query, line in zip(queries, map(json.loads, out.splitlines()), strict=True):
        results = line["results"]
        assert results[0]["path"] == str(query)
        same = [Path(r["path"]).parent.name == query.parent.name for r in results[1:11]]
        per_class.setdefault(query.parent.name, []).append(sum(same) / 10)
    precision = {c: sum(v) / len(v) for c, v in per_class.items()}
    print("P@10 per class:", {c: round(p, 2) for c, p in precision.items()})
    assert sum(precision.values()) / len(precision) >= 0.8
