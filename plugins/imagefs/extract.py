"""Extract an image's merged root filesystem into a directory, safely.

The extractor never decides anything the listing did not: it computes the merged
:class:`~imagefs.tree.Tree` first (the same engine as ``imagefs list``), then streams each
layer and writes only the members that survive in that tree with ``entry.layer == i``.
Whiteouts therefore never have to be applied on disk, and a member a later layer hides is
never written at all.

Safety (the threat is the image, never the user):

- Every path component is opened relative to a directory file descriptor with
  ``O_NOFOLLOW | O_DIRECTORY``; no path string is resolved, checked and then used. Every
  directory on the way is one this run created (``mkdir`` then open ``O_NOFOLLOW``), so a
  symlink in the image can never redirect a write, chmod, chown or link outside ``dest``.
- Symlinks are created with their text verbatim and never followed.
- Hardlinks are made with ``linkat`` (no ``AT_SYMLINK_FOLLOW``) between two directories
  opened inside ``dest``, to a target that this run already wrote. No fallback re-extracts.
- Device nodes and FIFOs are skipped with one summary warning (tar has no sockets).
- setuid/setgid/sticky are cleared unless ``preserve_special_bits`` and we are root;
  ownership and xattrs are applied only when root and asked (``trusted.*`` never: a
  ``trusted.overlay.*`` attribute would turn the result into a whiteout if it became an
  overlay lower directory).
- ``dest`` must be empty or missing. On any failure everything written below it is removed
  (fd-relative, without following links) and the error names the layer and the entry.

Directories are created first (mode 0700, so this works as an ordinary user), files,
symlinks and hardlinks next, and directory modes and mtimes last, children before parents.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ImagefsError, InvalidImageError, UsageError
from .names import visible
from .tree import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, Entry, Tree

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SPECIAL = (CHAR, BLOCK, FIFO)
_COPY_CHUNK = 1 << 20


@dataclass
class ExtractResult:
    """What an extraction wrote: counts by kind, and what it deliberately left out."""

    dest: Path
    tree: Tree
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    bytes_written: int = 0
    skipped_special: list[str] = field(default_factory=list)
    skipped_xattrs: int = 0
    skipped_empty_links: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    special_bits: bool
    owners: bool
    xattrs: bool


def _split(path: str) -> tuple[str, str]:
    """``/a/b/c`` -> (``/a/b``, ``c``), refusing anything but plain names (the listing's
    paths are normalised already; this is a second line of defence, in C-speed string
    operations because a 10,000-deep path is 20,000 characters long)."""
    bad = not path.startswith("/") or path.endswith("/") or "//" in path or "\0" in path
    if not bad and "/." in path:  # only then can a "." or ".." component hide in it
        bad = path.endswith(("/.", "/..")) or "/./" in path or "/../" in path
    if bad:
        raise InvalidImageError(
            f"refusing to extract {visible(path)!r}: not a normalised absolute path"
        )
    parent, _, name = path.rpartition("/")
    return parent or "/", name


class _Cursor:
    """An open directory below ``dest``, moved one component at a time.

    Down: ``openat(fd, name, O_NOFOLLOW|O_DIRECTORY)``. Up: the parent's fd from the stack,
    or ``openat(fd, "..")`` once more than ``MAX_OPEN`` levels are deep (a 10,000-deep
    tree must not exhaust file descriptors). It never goes above ``dest``, and a move
    costs the distance between two directories, not their depth.
    """

    MAX_OPEN = 64

    def __init__(self, root_fd: int):
        self._fds: list[int | None] = [root_fd]  # _fds[0] is dest, owned by the caller
        self._lens: list[int] = []  # len(self.path) before each step down
        self.path = "/"

    @property
    def fd(self) -> int:
        fd = self._fds[-1]
        assert fd is not None
        return fd

    def goto(self, path: str) -> int:
        """Make directory ``path`` (absolute; ``/`` is dest) current and return its fd."""
        cur = self.path
        if path == cur:
            return self.fd
        while cur != "/" and not (
            path.startswith(cur) and path[len(cur) : len(cur) + 1] == "/"
        ):
            self._up()
            cur = self.path
        if path == cur:
            return self.fd
        rest = path[len(cur) :] if cur != "/" else path
        for name in rest.split("/")[1:]:
            self._down(name)
        return self.fd

    def _down(self, name: str) -> None:
        new = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        self._fds.append(new)
        self._lens.append(len(self.path))
        self.path = f"{self.path}/{name}" if self.path != "/" else f"/{name}"
        old = len(self._fds) - 1 - self.MAX_OPEN
        if old >= 1 and self._fds[old] is not None:
            os.close(self._fds[old])  # type: ignore[arg-type]
            self._fds[old] = None

    def _up(self) -> None:
        fd = self._fds.pop()
        n = self._lens.pop()
        self.path = self.path[:n] or "/"
        try:
            if self._fds[-1] is None:
                self._fds[-1] = os.open("..", _DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)  # type: ignore[arg-type]

    def close(self) -> None:
        for fd in self._fds[1:]:
            if fd is not None:
                os.close(fd)
        del self._fds[1:]
        self._lens = []
        self.path = "/"


def _open_dest(dest: Path) -> tuple[int, bool]:
    """Open ``dest`` (creating it if missing); refuse a non-empty or non-directory one."""
    created = False
    try:
        try:
            os.mkdir(dest, 0o700)
            created = True
        except FileExistsError:
            pass
        except FileNotFoundError:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(dest, 0o700)
            created = True
    except OSError as err:
        raise UsageError(
            f"extract: cannot create {dest}: {err.strerror}; give a directory you can write to"
        ) from err
    try:
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        raise UsageError(
            f"extract: {dest} exists and is not a directory; give a new or empty directory"
        ) from None
    except OSError as err:
        raise UsageError(f"extract: cannot open {dest}: {err.strerror}") from err
    if not created and os.listdir(fd):
        os.close(fd)
        raise UsageError(f"extract: {dest} is not empty; give a new or empty directory")
    return fd, created


def _enter_for_removal(name: str, dfd: int) -> int:
    """Open subdirectory ``name`` of ``dfd`` to empty it, making it searchable if needed."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dfd)
    except PermissionError:
        # A directory whose final mode (e.g. 0000) was already applied: chmod it through an
        # O_PATH descriptor (the /proc magic link names that inode, not a path to resolve).
        pfd = os.open(
            name, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd
        )
        try:
            os.chmod(f"/proc/self/fd/{pfd}", 0o700)
        finally:
            os.close(pfd)
        return os.open(name, _DIR_FLAGS, dir_fd=dfd)


def remove_contents(root_fd: int) -> None:
    """Delete everything below the directory ``root_fd``; never follows a link.

    Iterative (any depth), each step relative to a directory fd opened ``O_NOFOLLOW``.
    """
    # Frames: [fd, name of this dir in its parent, subdirectories still to visit].
    stack: list[list[Any]] = [[root_fd, None, None]]
    while stack:
        frame = stack[-1]
        fd = frame[0]
        if frame[2] is None:
            subdirs = []
            for name in os.listdir(fd):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(name)
                else:
                    os.unlink(name, dir_fd=fd)
            frame[2] = subdirs
        if frame[2]:
            name = frame[2].pop()
            stack.append([_enter_for_removal(name, fd), name, None])
            continue
        stack.pop()
        if stack:
            os.close(fd)
            os.rmdir(frame[1], dir_fd=stack[-1][0])


class _Extractor:
    def __init__(self, tree: Tree, dest_fd: int, opts: _Options, result: ExtractResult):
        self.tree = tree
        self.opts = opts
        self.result = result
        self.cur = _Cursor(dest_fd)
        self.cur2 = _Cursor(dest_fd)  # the other end of a hardlink
        self.dir_meta: dict[str, dict[str, bytes]] = {}
        self.written: set[str] = set()  # files whose bytes were written
        self.is_root = os.geteuid() == 0

    # -- modes, owners, xattrs ---------------------------------------------------------
    def _mode(self, e: Entry) -> int:
        return e.mode & (0o7777 if self.opts.special_bits else 0o777)

    def _apply_fd(self, fd: int, e: Entry, xattrs: dict[str, bytes] | None) -> None:
        if self.opts.owners:
            os.fchown(fd, e.uid, e.gid)  # before chmod: chown clears setuid/setgid
        if self.opts.xattrs and xattrs:
            for key, value in xattrs.items():
                if key.startswith("trusted."):
                    self.result.skipped_xattrs += 1
                    continue
                try:
                    os.setxattr(fd, key, value)
                except OSError as err:
                    if err.errno not in (
                        errno.ENOTSUP,
                        errno.EPERM,
                        errno.EINVAL,
                        errno.EOPNOTSUPP,
                    ):
                        raise
                    self.result.skipped_xattrs += 1
        os.fchmod(fd, self._mode(e))
        os.utime(fd, ns=(e.mtime * 10**9, e.mtime * 10**9))

    # -- steps -------------------------------------------------------------------------
    def make_dirs(self) -> None:
        for _, e in self.tree.walk():
            if e.type != DIR:
                continue
            parent, name = _split(e.path)
            os.mkdir(name, 0o700, dir_fd=self.cur.goto(parent))
            self.result.dirs += 1

    def _replace(self, name: str, dfd: int) -> None:
        """Make room for a duplicate member of one layer (the last one wins)."""
        try:
            os.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            pass

    def write_file(
        self,
        e: Entry,
        reader: Callable[[bytearray], int] | None,
        copy_from: Entry | None,
        xattrs: dict[str, bytes] | None,
    ) -> None:
        parent, name = _split(e.path)
        dfd = self.cur.goto(parent)
        self._replace(name, dfd)
        fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dfd)
        try:
            if reader is not None:
                buf = bytearray(_COPY_CHUNK)
                view = memoryview(buf)
                while True:
                    n = reader(buf)
                    if not n:
                        break
                    _write_all(fd, view[:n])
                    self.result.bytes_written += n
            elif copy_from is not None:
                self._copy_into(fd, copy_from)
            self._apply_fd(fd, e, xattrs)
        finally:
            os.close(fd)
        self.result.files += 1
        self.written.add(e.path)

    def _copy_into(self, fd: int, src: Entry) -> None:
        parent, name = _split(src.path)
        sfd = os.open(
            name,
            os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
            dir_fd=self.cur2.goto(parent),
        )
        try:
            while True:
                chunk = os.read(sfd, _COPY_CHUNK)
                if not chunk:
                    break
                _write_all(fd, memoryview(chunk))
                self.result.bytes_written += len(chunk)
        finally:
            os.close(sfd)

    def write_symlink(self, e: Entry, target: str) -> None:
        parent, name = _split(e.path)
        dfd = self.cur.goto(parent)
        self._replace(name, dfd)
        os.symlink(target, name, dir_fd=dfd)
        if self.opts.owners:
            os.chown(name, e.uid, e.gid, dir_fd=dfd, follow_symlinks=False)
        os.utime(
            name,
            ns=(e.mtime * 10**9, e.mtime * 10**9),
            dir_fd=dfd,
            follow_symlinks=False,
        )
        self.result.symlinks += 1

    def link_hardlinks(self, where: Callable[[Entry], str]) -> None:
        limit = 40
        for _, e in self.tree.walk():
            if e.type != HARDLINK:
                continue
            t = self.tree.get(e.target or "")
            hops = 0
            while t is not None and t.type == HARDLINK and hops < limit:
                t = self.tree.get(t.target or "")
                hops += 1
            if t is None or t.type in (DIR, HARDLINK) or t.path == "/":
                raise InvalidImageError(
                    f"{where(e)}: hardlink {visible(e.path)} -> {visible(e.target or '')}: "
                    "the target is not a file in the merged image"
                )
            if t.type in _SPECIAL:
                self.result.skipped_special.append(e.path)
                continue
            if t.type == SYMLINK and not t.target:
                self.result.skipped_empty_links.append(e.path)
                continue
            sparent, sname = _split(t.path)
            dparent, dname = _split(e.path)
            try:
                sfd = self.cur2.goto(sparent)
                dfd = self.cur.goto(dparent)
                self._replace(dname, dfd)
                os.link(
                    sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False
                )
            except OSError as err:
                raise _with_context(
                    err, f"{where(e)}: hardlink {visible(e.path)} -> {visible(t.path)}"
                ) from err
            self.result.hardlinks += 1

    def finish_dirs(self, where: Callable[[Entry], str]) -> None:
        dirs = [e for _, e in self.tree.walk() if e.type == DIR]
        for e in reversed(
            dirs
        ):  # reversed pre-order: every directory after its contents
            parent, name = _split(e.path)
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=self.cur.goto(parent))
                try:
                    self._apply_fd(fd, e, self.dir_meta.get(e.path))
                finally:
                    os.close(fd)
            except OSError as err:
                raise _with_context(
                    err, f"{where(e)}: directory {visible(e.path)}"
                ) from err

    def close(self) -> None:
        self.cur.close()
        self.cur2.close()


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _with_context(err: BaseException, message: str) -> ImagefsError:
    """``err`` re-raised with ``message`` prepended, keeping its type when it is ours."""
    if isinstance(err, ImagefsError):
        try:
            new = type(err)(f"{message}: {err}")
        except TypeError:
            new = ImagefsError(f"{message}: {err}")
        return new
    if isinstance(err, OSError):
        return ImagefsError(f"{message}: {err.strerror or err}")
    return ImagefsError(f"{message}: {err}")


def merged_tree(
    image: Any,
    *,
    cache: bool = True,
    limits: Any = None,
    symlinks: str = "overlay",
    progress: Any = None,
) -> Tree:
    """The merged tree of an open image: exactly what ``imagefs list`` shows."""
    from .listing import list_image

    return list_image(
        image, cache=cache, limits=limits, symlinks=symlinks, progress=progress
    )


def extract_image(
    image: Any,
    dest: str | os.PathLike[str],
    *,
    platform: Any = None,
    limits: Any = None,
    preserve_special_bits: bool = False,
    preserve_owners: bool = False,
    preserve_xattrs: bool = False,
    symlinks: str = "overlay",
    cache: bool = True,
    progress: Any = None,
    **source_options: Any,
) -> ExtractResult:
    """Write the merged root filesystem of ``image`` (an :class:`Image` or a reference)
    into ``dest``, which must be empty or missing. See the module docstring."""
    from .sources import open_image
    from .sources.base import Image, Limits
    from .tarstream import iter_members

    if not os.fspath(dest):
        raise UsageError("extract: DIR is an empty string; give a new or empty directory, e.g. ./rootfs")
    limits = limits or Limits()
    is_root = os.geteuid() == 0
    for asked, what in (
        (preserve_special_bits, "setuid/setgid/sticky bits"),
        (preserve_owners, "ownership"),
        (preserve_xattrs, "xattrs"),
    ):
        if asked and not is_root:
            log.warning("not running as root: %s are not preserved", what)
    opts = _Options(
        special_bits=preserve_special_bits and is_root,
        owners=preserve_owners and is_root,
        xattrs=preserve_xattrs and is_root,
    )

    own_image = not isinstance(image, Image)
    img = (
        open_image(image, platform, limits=limits, **source_options)
        if own_image
        else image
    )
    try:
        tree = merged_tree(
            img, cache=cache, limits=limits, symlinks=symlinks, progress=progress
        )
        layers = img.layers()
        dest_path = Path(dest)
        dest_fd, created = _open_dest(dest_path)
        result = ExtractResult(dest=dest_path, tree=tree)
        ex = _Extractor(tree, dest_fd, opts, result)
        try:
            _run(ex, tree, layers, iter_members, limits, progress)
            if created:
                os.fchmod(dest_fd, 0o755)
        except BaseException as err:
            ex.close()
            try:
                remove_contents(dest_fd)
                if created:
                    os.rmdir(dest_path)
            except OSError as cleanup_err:  # pragma: no cover - reported, not hidden
                log.error(
                    "could not remove the partial extraction in %s: %s",
                    dest_path,
                    cleanup_err,
                )
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            if not isinstance(err, (ImagefsError, OSError)):
                raise
            raise _with_context(
                err, f"extracting {img.reference} into {dest_path} (removed again)"
            ) from err
        finally:
            ex.close()
            os.close(dest_fd)
    finally:
        if own_image:
            img.close()
    if result.skipped_special:
        shown = ", ".join(visible(p) for p in result.skipped_special[:5])
        more = (
            f" and {len(result.skipped_special) - 5} more"
            if len(result.skipped_special) > 5
            else ""
        )
        log.warning(
            "skipped %d device nodes and FIFOs (never created by extract): %s%s",
            len(result.skipped_special),
            shown,
            more,
        )
    if result.skipped_empty_links:
        log.warning(
            "skipped %d symlinks with an empty target (Linux cannot create them): %s",
            len(result.skipped_empty_links),
            ", ".join(visible(p) for p in result.skipped_empty_links[:5]),
        )
    if result.skipped_xattrs:
        log.warning(
            "did not apply %d xattrs (trusted.* or not supported here)",
            result.skipped_xattrs,
        )
    return result


def _origin(e: Entry) -> tuple[int, str]:
    """(layer, member path) of the tar member holding a file's bytes (``Entry.data_origin``)."""
    origin = getattr(e, "origin", None)
    return (origin[0], origin[1]) if origin is not None else (e.layer, e.path)


def _run(
    ex: _Extractor,
    tree: Tree,
    layers: list[Any],
    iter_members: Any,
    limits: Any,
    progress: Any,
) -> None:
    def where(e: Entry) -> str:
        return (
            layers[e.layer].describe()
            if 0 <= e.layer < len(layers)
            else f"layer {e.layer}"
        )

    ex.make_dirs()
    # Which member of which layer holds each file's bytes. Usually the entry's own path in
    # the layer that last wrote it; the merge sets ``origin`` when the bytes are stored
    # elsewhere (a hardlink promoted to a file when a later layer deleted its target, a
    # write through a symlink in the flattening model, an AUFS ``.wh..wh.plnk`` link).
    # A member that occurs twice in a layer is written twice: the last one wins, as in
    # the listing.
    wanted: dict[tuple[int, str], list[Entry]] = {}
    dir_wanted: dict[tuple[int, str], Entry] = {}
    for e in tree.entries():
        if e.type == FILE:
            wanted.setdefault(_origin(e), []).append(e)
        elif e.type == DIR and e.xattrs and not e.implicit:
            dir_wanted[_origin(e)] = e
        elif e.type in _SPECIAL:
            ex.result.skipped_special.append(e.path)

    for i, layer in enumerate(layers):
        desc = layer.describe()
        path = "(start of layer)"
        try:
            cb = progress(layer) if progress is not None else None
            stream = layer.open(progress=cb) if cb is not None else layer.open()
            with stream:
                for m in iter_members(stream, limits=limits, where=desc):
                    path = m.path
                    if m.type == FILE:
                        targets = wanted.get((i, path))
                        if targets:
                            first, *rest = targets
                            ex.write_file(first, m.readinto, None, m.xattrs)
                            for other in rest:
                                ex.write_file(other, None, first, m.xattrs)
                    elif m.type == DIR and m.xattrs:
                        d = dir_wanted.get((i, path))
                        if d is not None:
                            ex.dir_meta[d.path] = dict(m.xattrs)
                path = "(end of layer)"
                while stream.read(
                    1 << 20
                ):  # to EOF, so the blob and diff_id digests are checked
                    pass
        except BaseException as err:
            if isinstance(err, (ImagefsError, OSError)):
                named = isinstance(err, ImagefsError) and str(err).startswith(
                    desc
                )  # the reader named the layer
                raise _with_context(
                    err,
                    f"entry {visible(path)}"
                    if named
                    else f"{desc}: entry {visible(path)}",
                ) from err
            raise
    # Every file of the listing must have met its bytes: an entry whose member was not
    # found means the listing and the layers disagree (a changed blob, a tampered cache).
    for entries in wanted.values():
        for e in entries:
            if e.path not in ex.written:
                o = _origin(e)
                raise InvalidImageError(
                    f"{where(e)}: {visible(e.path)} is in the listing but member {visible(o[1])} of layer {o[0]} "
                    "was not found when extracting; re-run with --no-cache"
                )
    for _, e in tree.walk():
        if e.type != SYMLINK:
            continue
        if not e.target:
            ex.result.skipped_empty_links.append(
                e.path
            )  # Linux cannot create an empty symlink
            continue
        try:
            ex.write_symlink(e, e.target)
        except OSError as err:
            raise _with_context(err, f"{where(e)}: symlink {visible(e.path)}") from err
    ex.link_hardlinks(where)
    ex.finish_dirs(where)
