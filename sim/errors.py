"""Errors that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from a user: unknown mode, impossible config, malformed schedule."""


class UserCodeError(UsageError):
    """User code run inside the simulation (a pipeline's transform, sink, offsets reader or error
    policy) raised, or returned something the simulator cannot use. One line: which callable,
    the record it was processing, and the exception."""
