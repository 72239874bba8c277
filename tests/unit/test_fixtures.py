# SPDX-License-Identifier: MIT
"""The golden fixtures live in the repository: a standalone clone runs every fidelity test."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import KUBERAY, REFERENCE, ROOT

#: The fidelity tests and the fixture name prefix each one globs.
PREFIXES = ("satsom_", "kwinners", "sparse_weights_", "classp_", "bio_")


def test_every_fixture_in_the_manifest_is_here_unchanged() -> None:
    manifest = json.loads((REFERENCE / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (REFERENCE / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
    readme = (REFERENCE / "README.md").read_bytes()
    assert hashlib.sha256(readme).hexdigest() == manifest["readme_sha256"]
    for entry in manifest["files"]:
        assert entry["file"].startswith(PREFIXES), f"{entry['file']} is read by no fidelity test"
    assert (KUBERAY / "raycluster_v1.json").is_file() and (KUBERAY / "rayjob_v1.json").is_file()


def test_no_test_reads_outside_the_repository() -> None:
    # Spelled in parts so that this file does not name them itself.
    outside = ("../" + "shared", '"shared"' + " /", "parents[2]" + ".parent")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py")
                 if any(o in p.read_text() for o in outside)]
    assert offenders == []
