"""Version control: plain git repositories now; GitHub and GitHub Enterprise later."""

from rondo.vcs.errors import VcsError
from rondo.vcs.git import CommitInfo, GitRepository, SshIdentity

__all__ = ["CommitInfo", "GitRepository", "SshIdentity", "VcsError"]
