"""The domain errors of vsrife (no torch, no VapourSynth: the command line imports them cheaply).

The filter turns them into ``vs.Error("RIFE: ...")`` and the command line into one ``vsrife: ...``
line; their messages say what is wrong and what to do.
"""

from __future__ import annotations


class ModelError(Exception):
    """A model is missing, corrupt, unreadable or cannot be fetched."""


class UnsupportedModelError(ModelError):
    """A checkpoint holds no network vsrife knows."""


class ModelMismatchError(ModelError):
    """A checkpoint does not hold the network its name or the caller asked for."""


class UnknownModelError(ModelError, KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
