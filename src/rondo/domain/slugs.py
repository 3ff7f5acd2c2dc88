"""Project slugs: `gh/org/repo`, `github/org/repo`, `bb/...`, `bitbucket/...` and URL-escaped forms."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

# Every accepted VCS prefix and the short form Rondo outputs for it (v2 uses the short form).
_SHORT = {"gh": "gh", "github": "gh", "bb": "bb", "bitbucket": "bb", "circleci": "circleci"}
_LONG = {"gh": "github", "bb": "bitbucket", "circleci": "circleci"}


class SlugError(ValueError):
    """A project slug that is not `vcs/org/repo`."""


@dataclass(frozen=True)
class ProjectSlug:
    vcs: str  # short form: gh, bb, circleci
    org: str
    repo: str

    @classmethod
    def parse(cls, text: str) -> ProjectSlug:
        parts = unquote(text).strip("/").split("/")
        if len(parts) != 3 or not all(parts):
            raise SlugError(f"project slug {text!r} is not of the form vcs/org/repo (for example gh/acme/app)")
        vcs, org, repo = parts
        short = _SHORT.get(vcs.lower())
        if short is None:
            raise SlugError(
                f"project slug {text!r} starts with {vcs!r}; expected one of gh, github, bb, bitbucket, circleci"
            )
        for name in (org, repo):
            if name in (".", "..") or any(ch in name for ch in "\\ \t\n"):
                raise SlugError(f"project slug {text!r} has an invalid part {name!r}")
        return cls(short, org, repo)

    @property
    def short(self) -> str:
        """The v2 form, `gh/org/repo`."""
        return f"{self.vcs}/{self.org}/{self.repo}"

    @property
    def long(self) -> str:
        """The v1.1 form, `github/org/repo`."""
        return f"{_LONG[self.vcs]}/{self.org}/{self.repo}"

    @property
    def org_slug(self) -> str:
        return f"{self.vcs}/{self.org}"

    @property
    def vcs_type(self) -> str:
        """v1.1's `vcs_type`: github or bitbucket."""
        return _LONG[self.vcs]

    def __str__(self) -> str:
        return self.short


def parse_org_slug(text: str) -> tuple[str, str]:
    """An organization slug (`gh/acme`, `github/acme`, URL-escaped too) as (short vcs, org name)."""
    parts = unquote(text).strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise SlugError(f"organization slug {text!r} is not of the form vcs/org (for example gh/acme)")
    slug = ProjectSlug.parse(f"{parts[0]}/{parts[1]}/-")
    return slug.vcs, slug.org
