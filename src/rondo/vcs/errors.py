"""The one error type of the vcs package."""

from __future__ import annotations


class VcsError(Exception):
    """A repository could not be read: says what failed, for which repository, and git's own words."""
