"""The PySide6 desktop application of Inspector Search; it reaches the core only through its façade."""
