"""The committed OpenAPI document is the one the server serves."""

from __future__ import annotations

from pathlib import Path

from inspector_search.api.app import openapi_document

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert DOCUMENT.is_file(), "docs/openapi.json is missing: python -m inspector_search.api > docs/openapi.json"
    assert DOCUMENT.read_text(encoding="utf-8") == openapi_document(), (
        "docs/openapi.json is stale: python -m inspector_search.api > docs/openapi.json")
