"""Benchmarks and their data generators. Not part of `make test`; see bench/README.md."""
