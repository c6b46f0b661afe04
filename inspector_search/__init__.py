"""Inspector Search: offline content-based retrieval of plant inspection photos."""

__version__ = "0.1.0"
