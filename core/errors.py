"""Errors a person can act on. str(error) is the whole message."""
from __future__ import annotations


class FledgeError(Exception):
    """Base of every error shown to users as a plain message."""


class UsageError(FledgeError):
    """Options that are out of range or contradict each other or the input: nothing was done,
    and the command line exits with status 2."""


class DatasetError(FledgeError):
    pass


class CheckpointError(FledgeError):
    pass


class TrainingError(FledgeError):
    pass


class ImageError(FledgeError):
    """One image that cannot be used; keeps the path and the reason apart."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
