"""Errors that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from a user: unknown mode, impossible config, malformed schedule."""
