"""Labelled data for benchmarks/redaction.py."""
