"""Defaults that the command line needs without importing PyTorch."""

DEFAULT_MODEL = "4.25"
"""The model adapted when none is given: the newest standard release whose file carries a teacher."""

DEFAULT_SECONDS = 180.0
"""The default time budget (see the README: what a 2-core CPU reaches in it, and why it suits a film)."""
