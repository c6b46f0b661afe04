"""The headless core of Inspector Search. Nothing in this package imports Qt."""
