"""Deterministic code bundles (`platforge.provider.datatailr.bundle`): the hash moves with the
code and with nothing else, the archive holds exactly the expected members, unsafe input is
refused with a message that names it."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from platforge.provider.datatailr import bundle as bundle_module
from platforge.provider.datatailr.bundle import Bundle, BundleError, build_bundle, fingerprint
from platforge.provider.datatailr.jobs import RepoBundle

LONG = "a_rather_long_package_name_that_goes_on/" * 3 + "deep_module_with_a_long_name.py"  # > 100 chars
FILES: dict[str, bytes] = {
    "__init__.py": b"",
    "main.py": b"print('hello')\n",
    "sub/util.py": b"def f():\n    return 1\n",
    "sub/data/table.csv": b"a,b\n1,2\n",
    "caf\u00e9.txt": "d\u00e9j\u00e0 vu\n".encode(),
    LONG: b"x = 1\n",
}
needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs POSIX symlinks")


@pytest.fixture
def no_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without git on PATH: the skip rules choose the files, whatever repository tmp_path is in."""
    empty = tmp_path / "no-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def write_tree(root: Path, files: dict[str, bytes], *, order: list[str] | None = None, mode: int = 0o644) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in order or list(files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        path.chmod(mode)
    return root


def members(bundle: Bundle) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(bundle.archive), mode="r:gz") as tar:
        return tar.getmembers()


def contents(bundle: Bundle) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(bundle.archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None, member.name
            out[member.name] = handle.read()
    return out


# -- determinism ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_git")
def test_same_code_in_two_folders_gives_the_same_bytes(tmp_path: Path) -> None:
    one = write_tree(tmp_path / "one" / "mypkg", FILES, mode=0o644)
    old_umask = os.umask(0o077)
    try:  # the other copy: created in reverse order, another umask, other (non-x) bits, new mtimes
        two = write_tree(tmp_path / "elsewhere" / "deeper" / "mypkg", FILES, order=list(reversed(FILES)), mode=0o600)
    finally:
        os.umask(old_umask)
    for i, path in enumerate(sorted(p for p in two.rglob("*") if p.is_file())):
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + 7 * i))
    (two / "sub").chmod(0o700)

    first, second = build_bundle(one), build_bundle(two)

    assert first.archive == second.archive
    assert first.sha256 == second.sha256 == hashlib.sha256(first.archive).hexdigest()
    assert first.repo_dir_name != second.repo_dir_name  # where it lives is not part of the hash
    assert first.files == len(FILES)
    (two / "main.py").touch()
    assert fingerprint(two) == first.sha256


@pytest.mark.usefixtures("no_git")
def test_only_the_owners_executable_bit_counts(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    before = build_bundle(root)

    (root / "main.py").chmod(0o744)
    after = build_bundle(root)
    assert after.sha256 != before.sha256
    modes = {m.name: m.mode for m in members(after)}
    assert modes["mypkg/main.py"] == 0o755
    assert modes["mypkg/sub/util.py"] == 0o644

    (root / "main.py").chmod(0o700)  # other x bits (a umask's business) change nothing
    assert fingerprint(root) == after.sha256
    (root / "main.py").chmod(0o655)  # x for group and others only: still not executable by its owner
    assert fingerprint(root) == before.sha256


@pytest.mark.usefixtures("no_git")
def test_a_content_change_changes_the_hash(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    before = fingerprint(root)
    (root / "sub" / "util.py").write_bytes(b"def f():\n    return 2\n")
    assert fingerprint(root) != before
    (root / "sub" / "util.py").write_bytes(FILES["sub/util.py"])
    assert fingerprint(root) == before


def _add(root: Path) -> None:
    (root / "sub" / "new.py").write_bytes(b"")


def _remove(root: Path) -> None:
    (root / "sub" / "data" / "table.csv").unlink()


def _rename(root: Path) -> None:
    (root / "main.py").rename(root / "app.py")


def _move(root: Path) -> None:
    (root / "sub" / "util.py").rename(root / "util.py")


@pytest.mark.usefixtures("no_git")
@pytest.mark.parametrize("change", [_add, _remove, _rename, _move], ids=["added", "removed", "renamed", "moved"])
def test_a_changed_file_list_changes_the_hash(tmp_path: Path, change: object) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    before = build_bundle(root)
    assert callable(change)
    change(root)
    after = build_bundle(root)
    assert after.sha256 != before.sha256
    assert [m.name for m in members(after)] != [m.name for m in members(before)]


@pytest.mark.usefixtures("no_git")
def test_another_module_name_changes_the_hash(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    assert fingerprint(root) != fingerprint(root, module="otherpkg")


@pytest.mark.usefixtures("no_git")
def test_skipped_folders_and_files_do_not_count(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    before = build_bundle(root)
    junk = {
        "__pycache__/x.pyc": b"\x00junk", "sub/__pycache__/util.cpython-311.pyc": b"\x00", "stale.pyc": b"\x00",
        "opt.pyo": b"\x00", ".venv/lib/site.py": b"", "venv/bin/python": b"", "node_modules/m/index.js": b"",
        ".git/HEAD": b"ref: x\n", ".mypy_cache/x.json": b"{}", ".pytest_cache/v": b"", ".ruff_cache/c": b"",
        ".DS_Store": b"\x00", "sub/.DS_Store": b"\x00", ".env": b"TOKEN=secret\n", "mypkg.egg-info/PKG-INFO": b"",
    }
    write_tree(root, junk)
    after = build_bundle(root)
    assert after.sha256 == before.sha256
    assert after.files == len(FILES)


# -- the archive ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_git")
def test_archive_holds_exactly_the_files_with_fixed_metadata(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    (root / "empty-folder").mkdir()
    bundle = build_bundle(root)

    infos = members(bundle)
    expected = sorted(f"mypkg/{name}" for name in FILES)
    assert [m.name for m in infos] == expected  # sorted, files only: no directory entries, no empty folder
    for member in infos:
        assert member.isreg(), member.name
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", ""), member.name
        assert member.mode == 0o644, member.name
        assert not any(key in member.pax_headers for key in ("mtime", "atime", "ctime", "uid", "gid")), member.name
    assert contents(bundle) == {f"mypkg/{name}": data for name, data in FILES.items()}

    raw = bundle.archive
    assert raw[:2] == b"\x1f\x8b"
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME
    assert not raw[3] & 0x08  # no FNAME field
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
        gz.read(1)  # the header is parsed on the first read
        assert gz.mtime == 0
    assert bundle.size == len(raw)
    assert "archive=" not in repr(bundle)  # a repr never dumps megabytes

    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        tar.extractall(out, filter="data")
    assert (out / "mypkg" / "sub" / "util.py").read_bytes() == FILES["sub/util.py"]


@pytest.mark.usefixtures("no_git")
def test_module_prefix_with_parts_sets_the_repo_folder(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "proj" / "src" / "mypkg", {"a.py": b"a = 1\n"})
    bundle = build_bundle(root, module="src/mypkg")
    assert [m.name for m in members(bundle)] == ["src/mypkg/a.py"]
    assert bundle.module_path == "src/mypkg"
    assert bundle.repo_dir_name == (tmp_path / "proj").resolve().as_posix().lstrip("/")

    renamed = build_bundle(root, module="app")  # a name that is not the folder's: the parent is the repo
    assert [m.name for m in members(renamed)] == ["app/a.py"]
    assert renamed.repo_dir_name == (tmp_path / "proj" / "src").resolve().as_posix().lstrip("/")


@pytest.mark.parametrize("module", ["", "/abs", "../up", "a/../b", "a//b", "./a", "a\\b", "mypkg/"])
def test_a_bad_module_name_is_refused(tmp_path: Path, module: str) -> None:
    root = write_tree(tmp_path / "mypkg", {"a.py": b""})
    with pytest.raises(BundleError, match="relative POSIX path"):
        build_bundle(root, module=module)


def test_to_repo_bundle_carries_the_fields_and_no_host_name(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "proj" / "mypkg", FILES)
    bundle = build_bundle(root)
    repo = bundle.to_repo_bundle()
    assert isinstance(repo, RepoBundle)
    assert repo.archive == bundle.archive
    assert repo.module_path == "mypkg"
    assert repo.repo_dir_name == (tmp_path / "proj").resolve().as_posix().lstrip("/")
    assert not repo.repo_dir_name.startswith("/")
    assert repo.local_hostname is None
    args = repo.to_args()
    assert args["repo_module_path"] == "mypkg" and args["local_hostname"] is None


# -- git ------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not on PATH")
def test_in_a_git_work_tree_gitignore_chooses_the_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    root = write_tree(repo / "mypkg", {
        "__init__.py": b"", "main.py": b"print(1)\n", "secret.txt": b"token\n", "build/out.py": b"generated\n",
        "notes/todo.md": b"untracked but not ignored\n",
    })
    (repo / ".gitignore").write_text("secret.txt\nbuild/\n")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path), "LC_ALL": "C"}
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "dev@example.com")
    git("config", "user.name", "Dev")
    git("config", "commit.gpgsign", "false")
    git("add", ".gitignore", "mypkg/__init__.py", "mypkg/main.py")
    git("commit", "-q", "-m", "init")
    (root / "__pycache__").mkdir()  # ignored by the repository's rules (below), not by a name list of ours
    (root / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    (repo / ".git" / "info" / "exclude").write_text("__pycache__/\n")

    bundle = build_bundle(root)
    assert sorted(m.name for m in members(bundle)) == ["mypkg/__init__.py", "mypkg/main.py", "mypkg/notes/todo.md"]

    (root / "secret.txt").write_bytes(b"another token\n")  # ignored files never move the hash
    (root / "build" / "more.py").write_bytes(b"")
    assert fingerprint(root) == bundle.sha256

    (root / "main.py").unlink()  # deleted but still in the index: the work tree is what is bundled
    assert [m.name for m in members(build_bundle(root))] == ["mypkg/__init__.py", "mypkg/notes/todo.md"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not on PATH")
def test_outside_a_work_tree_the_skip_rules_apply_even_with_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never find a repository above tmp_path
    root = write_tree(tmp_path / "mypkg", {**FILES, "__pycache__/x.pyc": b"\x00", ".venv/x.py": b""})
    assert build_bundle(root).files == len(FILES)


# -- refusals -------------------------------------------------------------------------------------


@needs_symlinks
@pytest.mark.usefixtures("no_git")
def test_a_symlink_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secrets.py"
    outside.write_text("TOKEN = 'x'\n")
    root = write_tree(tmp_path / "mypkg", FILES)
    (root / "sub" / "leak.py").symlink_to(outside)
    with pytest.raises(BundleError, match=r"leak\.py.*points outside the bundled folder"):
        build_bundle(root)


@needs_symlinks
@pytest.mark.usefixtures("no_git")
def test_a_symlink_inside_the_folder_is_stored_as_the_file(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    (root / "alias.py").symlink_to("sub/util.py")
    bundle = build_bundle(root)
    member = {m.name: m for m in members(bundle)}["mypkg/alias.py"]
    assert member.isreg() and not member.issym()
    assert contents(bundle)["mypkg/alias.py"] == FILES["sub/util.py"]


@needs_symlinks
@pytest.mark.usefixtures("no_git")
@pytest.mark.parametrize(("target", "message"), [
    ("sub", r"linked\.py is a symbolic link to a folder"),
    ("missing.py", r"linked\.py is dangling or loops"),
    ("linked.py", r"linked\.py is dangling or loops"),
])
def test_links_to_folders_dangling_and_looping_links_are_refused(tmp_path: Path, target: str, message: str) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    (root / "linked.py").symlink_to(target)
    with pytest.raises(BundleError, match=message):
        build_bundle(root)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.usefixtures("no_git")
def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", FILES)
    os.mkfifo(root / "pipe")
    with pytest.raises(BundleError, match=r"pipe is not a regular file"):
        build_bundle(root)


def test_a_missing_folder_is_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "mypkg"
    with pytest.raises(BundleError) as caught:
        build_bundle(missing)
    assert str(missing) in str(caught.value)
    assert "missing" in str(caught.value) and "expected a folder" in str(caught.value)


def test_a_file_is_refused_as_source(tmp_path: Path) -> None:
    file = tmp_path / "main.py"
    file.write_text("print(1)\n")
    with pytest.raises(BundleError, match=r"main\.py is a file: expected a folder"):
        fingerprint(file)


@pytest.mark.usefixtures("no_git")
def test_a_folder_with_nothing_to_bundle_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "mypkg", {"__pycache__/x.pyc": b"\x00"})
    with pytest.raises(BundleError, match="no files to bundle"):
        build_bundle(root)


@pytest.mark.usefixtures("no_git")
def test_an_archive_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path / "mypkg", {"blob.bin": os.urandom(256 * 1024)})
    monkeypatch.setattr(bundle_module, "MAX_ARCHIVE_BYTES", 64 * 1024)
    with pytest.raises(BundleError, match=r"too large.*413"):
        build_bundle(root)
    monkeypatch.setattr(bundle_module, "MAX_ARCHIVE_BYTES", 1024 * 1024)
    assert build_bundle(root).files == 1


def test_the_cap_leaves_room_for_base64_in_the_body() -> None:
    assert bundle_module.MAX_ARCHIVE_BYTES * 4 / 3 < bundle_module.MAX_BODY_BYTES
    assert bundle_module.MAX_BODY_BYTES == 100 * 1024 * 1024
