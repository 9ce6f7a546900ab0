"""labkit.runtime.safefs: secrets owner-only from their first byte whatever the umask, private folders, and
neither a write nor a chown that follows a planted link."""
import os
import stat

import pytest

from labkit.runtime.safefs import UnsafePathError, chown_tree, private_dir, read_private, write_private

pytestmark = pytest.mark.unit


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def permissive_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def test_secret_is_owner_only_when_its_first_byte_lands(tmp_path, permissive_umask, monkeypatch):
    seen = []
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: seen.append(stat.S_IMODE(os.fstat(fd).st_mode)) or real(fd, data))
    write_private(tmp_path / "secret", "s3cret")
    assert seen and all(m == 0o600 for m in seen)
    assert mode(tmp_path / "secret") == 0o600 and read_private(tmp_path / "secret") == "s3cret"
    write_private(tmp_path / "cookie", "c", mode=0o400)
    assert mode(tmp_path / "cookie") == 0o400 and sorted(p.name for p in tmp_path.iterdir()) == ["cookie", "secret"]


def test_write_replaces_a_planted_link_and_refuses_a_linked_folder(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "secret").symlink_to(target)
    write_private(tmp_path / "secret", "new")
    assert target.read_text() == "keep" and not (tmp_path / "secret").is_symlink()
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real").mkdir()
    with pytest.raises(UnsafePathError, match="symbolic link"):
        write_private(tmp_path / "linked" / "secret", "x")
    assert list((tmp_path / "real").iterdir()) == []


def test_read_refuses_a_link_and_narrows_a_wide_secret(tmp_path):
    (tmp_path / "wide").write_text("old")
    (tmp_path / "wide").chmod(0o644)
    assert read_private(tmp_path / "wide") == "old" and mode(tmp_path / "wide") == 0o600
    (tmp_path / "link").symlink_to(tmp_path / "wide")
    with pytest.raises(UnsafePathError):
        read_private(tmp_path / "link")
    assert read_private(tmp_path / "absent") is None


def test_private_dir_creates_0700_narrows_and_refuses_a_link(tmp_path, permissive_umask):
    assert mode(private_dir(tmp_path / "a" / "b")) == 0o700 and mode(tmp_path / "a") == 0o700
    wide = tmp_path / "wide"
    wide.mkdir(0o777)
    assert mode(private_dir(wide)) == 0o710  # others out, the group may only pass through
    (tmp_path / "link").symlink_to(wide)
    with pytest.raises(UnsafePathError):
        private_dir(tmp_path / "link")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_chown_tree_hands_over_links_not_their_targets(tmp_path):
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("x")
    outside.mkdir()
    (outside / "f").write_text("root's")
    (tree / "sub" / "to-file").symlink_to(outside / "f")
    (tree / "to-dir").symlink_to(outside)
    chown_tree(tree, 65534, 65534)
    assert all(os.lstat(p).st_uid == 65534 for p in (tree, tree / "sub", tree / "sub" / "file",
                                                      tree / "sub" / "to-file", tree / "to-dir"))
    assert os.stat(outside).st_uid == 0 and os.stat(outside / "f").st_uid == 0


def test_ensure_secret_creates_once_and_a_racing_start_reads_the_winner(tmp_path, monkeypatch):
    from labkit.runtime import safefs
    path = tmp_path / "cookie"
    real_read = safefs.read_private
    calls = []

    def late_reader(p):  # the other start writes its secret between our look and our create
        calls.append(p)
        if len(calls) == 1:
            write_private(p, "THEIRS")
            return None
        return real_read(p)

    monkeypatch.setattr(safefs, "read_private", late_reader)
    assert safefs.ensure_secret(path, lambda: "OURS") == "THEIRS"
    assert path.read_text() == "THEIRS" and sorted(p.name for p in tmp_path.iterdir()) == ["cookie"]
    monkeypatch.setattr(safefs, "read_private", real_read)
    assert safefs.ensure_secret(tmp_path / "new", lambda: "FIRST") == "FIRST"
    assert safefs.ensure_secret(tmp_path / "new", lambda: "SECOND") == "FIRST" and mode(tmp_path / "new") == 0o600
