"""A restore and a server never share a data dir: each refuses while the other holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rondo.ops.data_dir_lock import DataDirBusy, exclusive, serving


def test_a_restore_is_refused_while_a_server_serves_and_the_other_way_round(tmp_path: Path) -> None:
    busy = rf"a Rondo server \(pid {os.getpid()}\) is running"
    with serving(tmp_path), pytest.raises(DataDirBusy, match=busy), exclusive(tmp_path, "restoring"):
        pass
    with serving(tmp_path), serving(tmp_path):  # servers share it (a restarted one may overlap its predecessor)
        pass
    restoring = r"a restore \(pid \d+\) is running"
    with exclusive(tmp_path, "restoring"), pytest.raises(DataDirBusy, match=restoring), serving(tmp_path):
        pass
    with exclusive(tmp_path, "restoring"):  # released when the holder is done
        pass


def test_rondo_server_does_not_start_during_a_restore(tmp_path: Path) -> None:
    env = {**os.environ, "RONDO_DATA_DIR": str(tmp_path), "RONDO_BUILTIN_AGENT": "false", "RONDO_PORT": "9"}
    with exclusive(tmp_path, "restoring"):
        done = subprocess.run(
            [sys.executable, "-m", "rondo", "server"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 1
    assert f"rondo: a restore (pid {os.getpid()}) is running in {tmp_path}" in done.stderr
    assert not (tmp_path / "rondo.db").exists()  # refused before it touched the database
