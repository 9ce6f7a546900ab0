"""Files the runtime writes that must neither leak nor be redirected: secrets that are owner-only from their first
byte, directories other users cannot enter, and trees handed to another user without following their links.

The native RabbitMQ node runs as `rabbitmq` when we are root, and that user owns its folder: whatever we write
there, or chown, must not follow a link it planted (nor a directory it swapped for one).
"""
from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from common.errors import StackError

_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class UnsafePathError(StackError):
    """A path the runtime writes is a symbolic link (or sits in one): refused, not followed."""


def private_dir(path: Path, group: int | None = None) -> Path:
    """Create `path` (and its missing parents) owner-only (0700), or take from an existing one every right of
    others and its group's read and write. A link is refused. With `group`, the directory is given to that group
    with traversal only (0710): the user of a server we start can reach its own folder below, and list nothing.
    No directory exists, even for a moment, with a wider mode than that."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)  # the umask can only narrow it
        except FileExistsError:
            pass
    fd = _open_dir_checked(path)
    try:
        st = os.fstat(fd)
        current = stat.S_IMODE(st.st_mode)
        wanted = current & ~0o067
        if group is not None:
            if st.st_gid != group:
                os.fchown(fd, -1, group)
            wanted |= 0o010
        if wanted != current:
            os.fchmod(fd, wanted)
    finally:
        os.close(fd)
    return path


def _open_dir_checked(path: Path) -> int:
    try:
        return os.open(path, _NOFOLLOW_DIR)
    except OSError:
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
            raise UnsafePathError(f"refusing to use {path}: it is a symbolic link or not a directory") from None
        raise


def write_private(path: Path, text: str | bytes, mode: int = 0o600, owner: tuple[int, int] | None = None,
                  replace: bool = True) -> bool:
    """Write a file atomically (a reader never sees it half-written), owner-only (0600) from its first byte.

    It is written to a fresh sibling created exclusively (O_EXCL|O_NOFOLLOW: a planted name is refused, never
    followed), given its final `mode` and `owner` through its descriptor, then renamed over `path` (a link planted
    at `path` is replaced, not written through). The folder itself must not be a link. With replace=False an
    existing `path` is kept (the sibling is linked in only if the name is free); returns whether ours is in place."""
    path = Path(path)
    data = text.encode() if isinstance(text, str) else text
    dir_fd = _open_dir_checked(path.parent)
    try:
        tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
        try:
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if owner is not None:
                    os.fchown(fd, *owner)
                if mode != 0o600:
                    os.fchmod(fd, mode)
            finally:
                os.close(fd)
            if replace:
                os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                return True
            try:
                os.link(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp, dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(dir_fd)


def ensure_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, created owner-only by `make()` the first time. Two starts racing create one
    secret between them (the name is taken exclusively), and both read that one."""
    existing = read_private(path)
    if existing is not None:
        return existing
    write_private(path, make(), replace=False)
    return read_private(path) or ""


def read_private(path: Path) -> str | None:
    """The text of an owner-only file, or None when there is none. A link is refused; a file found wider than
    0600 (written before secrets were created owner-only) is narrowed first."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        if os.path.islink(path):
            raise UnsafePathError(f"refusing to read {path}: it is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"refusing to read {path}: not a regular file")
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
        return fh.read().decode()


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give `root` and everything under it to uid:gid without following a single link: links are chowned
    themselves, never their targets, and the walk holds each directory open (os.fwalk), so a directory swapped
    for a link while we walk is not entered."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for _dirpath, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in dirnames + filenames:
            try:
                os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:  # removed by the server while we walk
                pass


def remove_under(base: Path, names: Iterable[str]) -> list[str]:
    """Remove each of `names` (paths relative to `base`: a file or a whole tree) without following a link anywhere:
    `base` and every folder on the way are opened O_NOFOLLOW (a link there is refused), a link found where an entry
    was expected is removed itself, never what it points to, and trees are removed through descriptors
    (shutil.rmtree's symlink-attack-safe walk). Returns the names that were there and are gone."""
    if not os.path.lexists(base):
        return []
    removed = []
    base_fd = _open_dir_checked(base)
    try:
        for name in names:
            *folders, last = PurePosixPath(name).parts
            if PurePosixPath(name).is_absolute() or ".." in (*folders, last):
                raise ValueError(f"not a path inside {base}: {name!r}")
            fd = os.dup(base_fd)
            try:
                for i, folder in enumerate(folders):
                    try:
                        child = os.open(folder, _NOFOLLOW_DIR, dir_fd=fd)
                    except FileNotFoundError:
                        break
                    except OSError:  # ELOOP: a link; ENOTDIR: a file where a folder belongs
                        raise UnsafePathError(f"refusing to remove {base / name}: "
                                              f"{base.joinpath(*folders[:i + 1])} is a symbolic link or not a "
                                              f"directory") from None
                    os.close(fd)
                    fd = child
                else:
                    try:
                        st = os.stat(last, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(last, dir_fd=fd)
                    else:
                        os.unlink(last, dir_fd=fd)
                    removed.append(name)
            finally:
                os.close(fd)
    finally:
        os.close(base_fd)
    return removed
