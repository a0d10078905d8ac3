"""Code bundles for `job save` (contract §3.1), built so that unchanged code gives unchanged bytes.

Every `job save` adds a job version, and a new version can mean a redeploy. platforge therefore
saves only when the bundle's sha256 differs from the one it recorded, and that is only sound if
the hash moves when the code moves and at no other time. An archive made the ordinary way (the
vendor's CLI uses `tarfile.add`) also records modification times, owners, the umask's permission
bits, the order the file system lists entries in and the gzip timestamp: a fresh checkout, a
`touch`, a CI runner with another user or a second laptop would each bring a version nobody
asked for. So only what the job can observe reaches the archive: names, contents and whether a
file is executable (owner's x bit → 0o755, else 0o644). Times are 0, owners 0 with empty names,
entries are sorted by path, the tar format is fixed (PAX, whose UTF-8 and long-path records are
written only when a name needs them) and the gzip header carries neither a time nor a file name.

Why the rest is as it is:

- Files only, no directory entries: a directory entry carries nothing but metadata to get wrong;
  extraction creates the parents anyway. An empty directory is not bundled (git keeps none either).
- Symbolic links are never stored as links: a link inside an archive can make its extraction
  write or read outside the target folder. A link to a file inside the folder is stored as that
  file's content. A link that leaves the folder (which would ship code or secrets from elsewhere,
  and make the hash depend on files nobody looks at), dangles, or names a directory (following it
  could loop or leave the folder) is refused with `BundleError`, never silently dropped: a bundle
  missing a module fails late, on the platform.
- File selection follows git when the folder is in a work tree, as the vendor's CLI does, so a
  `.gitignore`d build output or secret never changes the hash; elsewhere well-known tool and cache
  folders are skipped. `.env` and `.DS_Store` are skipped in both cases, as the vendor does.
- The size cap is checked here because the platform answers an oversized body with a bare 413:
  the archive travels base64-encoded (4/3 of its size) in a body of at most 100 MiB.
- `local_hostname` stays None: the machine's name would make the request differ per machine.
  `repo_dir_name` is where the folder lives (the platform wants it) and is not part of the hash.

The hash is of the compressed archive, so it is stable for a given zlib (deflate's output is the
same across zlib 1.2.x/1.3.x; a different deflate implementation could produce other bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .jobs import RepoBundle

__all__ = [
    "ALWAYS_SKIPPED_FILES",
    "MAX_ARCHIVE_BYTES",
    "MAX_BODY_BYTES",
    "SKIPPED_DIRS",
    "SKIPPED_SUFFIXES",
    "Bundle",
    "BundleError",
    "build_bundle",
    "fingerprint",
]

#: The platform's request body limit (larger bodies are answered with HTTP 413).
MAX_BODY_BYTES = 100 * 1024 * 1024
#: Room left in the body for the job definition and the other fields.
BODY_HEADROOM_BYTES = 1024 * 1024
#: The largest archive whose base64 text still fits in the body next to the job definition.
MAX_ARCHIVE_BYTES = (MAX_BODY_BYTES - BODY_HEADROOM_BYTES) // 4 * 3

#: Folders skipped outside a git work tree (tools' caches, environments, other VCS data).
SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".tox", ".nox", ".eggs",
})
#: File name endings skipped outside a git work tree (compiled Python); folders ending in
#: `.egg-info` are skipped as well.
SKIPPED_SUFFIXES = (".pyc", ".pyo")
#: File names skipped always, with git too (the vendor's CLI skips them the same way).
ALWAYS_SKIPPED_FILES = frozenset({".env", ".DS_Store"})

_GZIP_LEVEL = 9
_FILE_MODE = 0o644
_EXEC_MODE = 0o755
# Variables that would point git at another repository or index than the folder's own.
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
                  "GIT_NAMESPACE", "GIT_PREFIX")


class BundleError(ValueError):
    """The folder cannot be bundled as asked; the message names the path and what was expected."""


@dataclass(frozen=True)
class Bundle:
    """A deterministic .tar.gz of a module folder: members are `<module_path>/<file>`."""

    archive: bytes = field(repr=False)
    sha256: str  # hex digest of `archive`
    files: int
    module_path: str
    repo_dir_name: str

    @property
    def size(self) -> int:
        return len(self.archive)

    def to_repo_bundle(self) -> RepoBundle:
        """What `JobsApi.save(bundle=...)` sends; no host name, so the request is reproducible."""
        return RepoBundle(archive=self.archive, repo_dir_name=self.repo_dir_name, module_path=self.module_path,
                          local_hostname=None)


@dataclass(frozen=True)
class _Entry:
    arcname: str
    path: Path  # the file read (a symlink's resolved target)
    display: Path  # the path as found, for messages
    mode: int


def build_bundle(source: Path | str, *, module: str | None = None) -> Bundle:
    """Bundle the module folder `source`; `module` (default: the folder's name) prefixes every
    member and is the `repo_module_path` sent. It may have several parts (`src/mypkg`)."""
    root = _source_folder(source)
    module_path = _module_path(module, root)
    repo_dir_name = _repo_dir_name(root, module_path)
    names = _git_selection(root)
    if names is None:
        names = _walk_selection(root)
    names = [n for n in names if n.rsplit("/", 1)[-1] not in ALWAYS_SKIPPED_FILES]
    entries = [e for e in (_entry(root, module_path, n) for n in sorted(set(names))) if e is not None]
    if not entries:
        raise BundleError(f"bundle source {root} has no files to bundle (after .gitignore and skip rules): "
                          f"expected at least one file")
    archive = _archive(entries, root)
    return Bundle(archive=archive, sha256=hashlib.sha256(archive).hexdigest(), files=len(entries),
                  module_path=module_path, repo_dir_name=repo_dir_name)


def fingerprint(source: Path | str, module: str | None = None) -> str:
    """The sha256 `build_bundle` would give: equal exactly when the bundled code is equal."""
    return build_bundle(source, module=module).sha256


# -- the folder and its names ---------------------------------------------------------------------


def _source_folder(source: Path | str) -> Path:
    path = Path(source).expanduser()
    if not path.exists():
        kind = "a dangling symbolic link" if path.is_symlink() else "missing"
        raise BundleError(f"bundle source {path} is {kind}: expected a folder (the module directory)")
    if path.is_file():
        raise BundleError(f"bundle source {path} is a file: expected a folder (the module directory)")
    if not path.is_dir():
        raise BundleError(f"bundle source {path} is not a folder: expected a folder (the module directory)")
    return path.resolve()


def _module_path(module: str | None, root: Path) -> str:
    text = root.name if module is None else module
    if not text:
        raise BundleError(f"cannot take a module name from {root}: pass module= (a relative POSIX path such as 'mypkg')")
    parts = text.split("/")
    if "\\" in text or text.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BundleError(f"module {text!r} for {root}: expected a relative POSIX path such as 'mypkg' or 'src/mypkg' "
                          f"(no leading or doubled '/', no '.' or '..', no '\\')")
    return text


def _repo_dir_name(root: Path, module_path: str) -> str:
    """The folder `module_path` is relative to: `root` minus the module's parts when `root` ends
    with them (`/home/u/proj/src/mypkg` with `src/mypkg` → `home/u/proj`), else `root`'s parent."""
    parts = module_path.split("/")
    if len(root.parts) > len(parts) and list(root.parts[-len(parts):]) == parts:
        repo = root.parents[len(parts) - 1]
    else:
        repo = root.parent
    name = "/".join(repo.parts[1:])  # without the anchor ('/' or a Windows drive)
    if not name:
        raise BundleError(f"bundle source {root} sits directly under {repo}: expected a folder inside some directory, "
                          f"the platform needs a non-empty repo directory name")
    return name


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS and k != "LANGUAGE"}
    env["LC_ALL"] = "C"  # git's messages are compared below
    return env


def _git_selection(root: Path) -> list[str] | None:
    """Files git would consider part of the work tree (tracked, or untracked and not ignored),
    relative to `root`; None when git is not installed or `root` is not in a work tree."""
    git = shutil.which("git")
    if git is None:
        return None
    env = _git_env()

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run([git, "-C", str(root), *args], capture_output=True, env=env, check=False)
        except OSError as exc:
            raise BundleError(f"bundle source {root}: running git failed: {exc}") from exc

    probe = run("rev-parse", "--is-inside-work-tree")
    if probe.returncode != 0:
        message = probe.stderr.decode("utf-8", "replace").strip()
        if "not a git repository" in message:
            return None
        # e.g. "dubious ownership": falling back would silently change which files are bundled.
        raise BundleError(f"bundle source {root}: git cannot read the work tree it is in: {message}")
    if probe.stdout.strip() != b"true":
        return None
    listing = run("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
    if listing.returncode != 0:
        message = listing.stderr.decode("utf-8", "replace").strip()
        raise BundleError(f"bundle source {root}: git ls-files failed: {message}")
    names: list[str] = []
    for raw in listing.stdout.split(b"\0"):
        if not raw:
            continue
        name = os.fsdecode(raw)
        if name.endswith("/"):  # `--others` shows an untracked nested repository as `dir/`
            raise BundleError(f"bundle source {root}: {root / name} is a nested git repository: "
                              f"expected files (commit it as files, or .gitignore it)")
        names.append(name)
    return names


def _walk_selection(root: Path) -> list[str]:
    """Files under `root` relative to it, without the skipped folders and names. Links to
    folders are listed (not entered) so that `_entry` refuses them by name."""

    def fail(exc: OSError) -> None:
        raise BundleError(f"bundle source {root}: cannot read {exc.filename}: {exc.strerror}") from exc

    names: list[str] = []
    for here, dirs, files in os.walk(root, onerror=fail, followlinks=False):
        rel = Path(here).relative_to(root)
        kept = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        dirs[:] = [d for d in kept if not os.path.islink(os.path.join(here, d))]
        linked_dirs = [d for d in kept if d not in dirs]
        for name in [*files, *linked_dirs]:
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            names.append((rel / name).as_posix())
    return names


def _entry(root: Path, module_path: str, name: str) -> _Entry | None:
    """What to store for `name` (relative to `root`); None when it vanished (a file deleted but
    still in git's index: the work tree is what gets bundled)."""
    display = root / name
    try:
        info = display.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BundleError(f"cannot read {display}: {exc.strerror}") from exc
    link = stat.S_ISLNK(info.st_mode)
    try:
        target = display.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise BundleError(f"symbolic link {display} is dangling or loops: expected a link to a file "
                          f"inside {root}") from exc
    if not target.is_relative_to(root):
        raise BundleError(f"{display} points outside the bundled folder {root} (to {target}): expected files "
                          f"inside it; copy the file in or move the folder boundary")
    try:
        info = target.stat()
    except OSError as exc:
        raise BundleError(f"cannot read {display}: {exc.strerror}") from exc
    if stat.S_ISDIR(info.st_mode):
        what = "a symbolic link to a folder" if link else "a folder listed by git (a submodule?)"
        raise BundleError(f"{display} is {what}: expected a file; links to folders are not followed")
    if not stat.S_ISREG(info.st_mode):
        raise BundleError(f"{display} is not a regular file (a FIFO, socket or device): expected a file")
    mode = _EXEC_MODE if info.st_mode & stat.S_IXUSR else _FILE_MODE
    return _Entry(arcname=f"{module_path}/{name}", path=target, display=display, mode=mode)


# -- the archive ----------------------------------------------------------------------------------


def _archive(entries: Iterable[_Entry], root: Path) -> bytes:
    limit = MAX_ARCHIVE_BYTES
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=_GZIP_LEVEL, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
            for entry in entries:
                _add(tar, entry)
                if buffer.tell() > limit:  # early: the compressor holds back a little
                    raise _too_large(root, buffer.tell(), limit)
    archive = buffer.getvalue()
    if len(archive) > limit:
        raise _too_large(root, len(archive), limit)
    return archive


def _add(tar: tarfile.TarFile, entry: _Entry) -> None:
    info = tarfile.TarInfo(entry.arcname)
    info.type = tarfile.REGTYPE
    info.mode = entry.mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    try:
        with entry.path.open("rb") as handle:
            info.size = os.fstat(handle.fileno()).st_size
            tar.addfile(info, handle)
    except OSError as exc:  # unreadable, or shrank while being read
        raise BundleError(f"cannot read {entry.display}: {exc.strerror or exc}") from exc


def _too_large(root: Path, size: int, limit: int) -> BundleError:
    mib = 1024 * 1024
    return BundleError(
        f"bundle of {root} is too large: {size / mib:.1f} MiB or more compressed, at most {limit / mib:.1f} MiB "
        f"fits the platform's {MAX_BODY_BYTES // mib} MiB request body once base64-encoded (it answers HTTP 413); "
        f"leave out data, build output or environments (.gitignore them)"
    )
