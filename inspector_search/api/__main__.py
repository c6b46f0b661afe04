"""Print the API's OpenAPI document: ``python -m inspector_search.api > docs/openapi.json``."""

from __future__ import annotations

import sys

from .app import openapi_document

if __name__ == "__main__":
    sys.stdout.write(openapi_document())
