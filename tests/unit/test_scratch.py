"""Scratch space: private, one locked directory per process, the dead's removed, the living's never."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors import scratch
from tests.support.processes import killed_scratch_owner


def test_a_directory_whose_lock_is_held_is_never_removed(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    alive = scratch.claim(root, "worker-a")
    (alive.path / "original").write_bytes(b"in use")

    newcomer = scratch.claim(root, "worker-b")

    assert newcomer.removed == []
    assert (alive.path / "original").read_bytes() == b"in use"
    alive.release()
    newcomer.release()


def test_the_scratch_of_a_killed_process_is_removed_by_the_next(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    dead = killed_scratch_owner(root, "worker-dead")
    assert (dead / "original").exists()  # SIGKILL left the patient's file behind

    newcomer = scratch.claim(root, "worker-new")

    assert newcomer.removed == ["worker-dead"]
    assert sorted(entry.name for entry in root.iterdir()) == ["worker-new"]
    newcomer.release()
    assert list(root.iterdir()) == []


def test_scratch_is_private_to_this_user(tmp_path: Path) -> None:
    root = tmp_path / "new" / "scratch"
    own = scratch.claim(root, "worker-a")
    assert root.stat().st_mode & 0o777 == 0o700
    assert own.path.stat().st_mode & 0o777 == 0o700
    assert (own.path / scratch.LOCK_NAME).stat().st_mode & 0o777 == 0o600
    with scratch.private_files():
        (own.path / "original").write_bytes(b"x")
    assert (own.path / "original").stat().st_mode & 0o777 == 0o600
    own.release()


def test_a_scratch_directory_others_can_enter_is_refused_with_the_fix(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o755)
    with pytest.raises(scratch.ScratchUnusable) as refused:
        scratch.claim(root, "worker-a")
    assert "MIA_SCRATCH_DIR" in str(refused.value) and f"chmod 700 {root}" in str(refused.value)


def test_only_owner_directories_are_ever_removed(tmp_path: Path) -> None:
    """A mistaken MIA_SCRATCH_DIR loses nothing: what carries no owner lock is not ours."""
    root = tmp_path / "scratch"
    root.mkdir(mode=0o700)
    (root / "notes").mkdir()
    (root / "notes" / "keep.txt").write_text("keep")
    (root / "keep.txt").write_text("keep")

    own = scratch.claim(root, "worker-a")

    assert own.removed == []
    assert (root / "notes" / "keep.txt").exists() and (root / "keep.txt").exists()
    own.release()


def test_emptying_keeps_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    own = scratch.claim(root, "lambda-1")
    (own.path / "tmp-job").mkdir()
    (own.path / "tmp-job" / "original").write_bytes(b"x")

    own.empty()

    assert [entry.name for entry in own.path.iterdir()] == [scratch.LOCK_NAME]
    second = scratch.claim(root, "lambda-2")
    assert second.removed == [] and own.path.is_dir()  # emptied, still held: a second runtime leaves it alone
    own.release()
    second.release()
