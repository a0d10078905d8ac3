"""The `__provider` saved in Pulumi state must not change when platforge is upgraded: it is
pickled by reference (module path, class name, `(platform, kind)`), so a new version with other
code produces byte-identical state and no spurious diff, and old state loads the new code."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import platforge

from .conftest import REPO

KINDS = ("group", "user", "group_membership", "kv", "secret")

SERIALIZE = """
import base64, json, sys
import dill
import platforge
from platforge.pulumi import datatailr  # noqa: F401  (what a program imports)
from platforge.pulumi.base import provider_for
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime._serialization import _serialize

out = {"version": platforge.__version__, "file": platforge.__file__, "blobs": {}, "loaded": {}}
for kind in KINDS_PLACEHOLDER:
    blob, secret = _serialize(True, serialize_provider, provider_for("datatailr", kind))
    assert not secret
    out["blobs"][kind] = blob
loaded = dill.loads(base64.b64decode(sys.argv[1])) if len(sys.argv) > 1 else None
if loaded is not None:
    import inspect
    out["loaded"] = {"module_file": inspect.getsourcefile(type(loaded)), "kind": loaded.kind,
                     "marker": getattr(type(loaded), "UPGRADE_MARKER", None)}
print(json.dumps(out))
""".replace("KINDS_PLACEHOLDER", repr(KINDS))


def _serialize_in_subprocess(env_path: str | None, tmp_path: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if env_path:
        env["PYTHONPATH"] = env_path
    result = subprocess.run([sys.executable, "-c", SERIALIZE, *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _next_version_tree(root: Path) -> Path:
    """The package as the next release would install it: `platforge/` with `provider/` →
    `platforge/provider` and `resources/` → `platforge/pulumi` (setup.py's package-dir)."""
    package = root / "platforge"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "platforge", package, ignore=ignore)
    shutil.copytree(REPO / "provider", package / "provider", ignore=ignore)
    shutil.copytree(REPO / "resources", package / "pulumi", ignore=ignore)
    init = package / "__init__.py"
    text = init.read_text()
    assert re.search(r"__version__\s*=", text), "platforge/__init__.py defines no __version__"
    init.write_text(re.sub(r"__version__\s*=\s*['\"][^'\"]+['\"]", '__version__ = "99.0.0"', text))
    provider = package / "pulumi" / "dynamic.py"
    source = provider.read_text()
    marker = '    def delete(self, id_: str, props: dict[str, Any]) -> None:\n'
    assert marker in source
    source = source.replace(marker, marker + "        _upgraded = True  # a changed method body\n")
    source = source.replace("    serialize_as_secret_always = False\n",
                            "    serialize_as_secret_always = False\n    UPGRADE_MARKER = 'v99'\n")
    provider.write_text(source)
    return root


def test_provider_state_is_identical_across_versions(tmp_path: Path) -> None:
    current = _serialize_in_subprocess(None, tmp_path)
    assert current["version"] == platforge.__version__
    tree = _next_version_tree(tmp_path / "next")
    upgraded = _serialize_in_subprocess(str(tree), tmp_path, current["blobs"]["secret"])

    assert upgraded["version"] == "99.0.0" and upgraded["file"].startswith(str(tree))
    # Old state loads the new code: by-reference pickling.
    assert upgraded["loaded"] == {"module_file": str(tree / "platforge" / "pulumi" / "dynamic.py"),
                                  "kind": "secret", "marker": "v99"}
    assert upgraded["blobs"] == current["blobs"]  # byte-identical base64
    assert len(set(current["blobs"].values())) == len(KINDS)
    for kind, blob in current["blobs"].items():
        assert len(blob) < 300, (kind, len(blob))
        raw = base64.b64decode(blob)
        assert b"platforge.pulumi.dynamic" in raw and b"KindProvider" in raw and kind.encode() in raw
        for forbidden in (b"http", b"127.0.0.1", b"password", b"token", b"endpoint", b"admin", b"_connection"):
            assert forbidden not in raw.lower(), (kind, forbidden)
