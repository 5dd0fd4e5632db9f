"""Tiny random-weight pipelines built in code with a fixed seed (tests, smoke runs, no download)."""

from models.tiny.registry import BUILDERS, build_tiny_pipeline


__all__ = ["BUILDERS", "build_tiny_pipeline"]
