# SPDX-License-Identifier: MIT
"""The documentation's links hold: no pointer leaves the repository, none is broken.

The learners are described in ``docs/learners.md``; the code, the search spaces
and the benchmarks link its sections. These tests check that (a) nothing points
to the spec that used to live outside the repository, (b) every relative link of
every Markdown file, and every path to a Markdown file under docs/ named in a
``.py``, ``.yaml`` or ``.md`` file, reaches a file that exists, and (c) every anchor into
``docs/learners.md`` is one of its headings (GitHub's slugs).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEARNERS_DOC = ROOT / "docs" / "learners.md"
#: The spec that lived outside the repository; spelled in parts so this file does not name it.
OUTSIDE_SPEC = "ALGORITHMS" + ".md"

#: ``[text](target)`` or ``![alt](target "title")``; the target has no spaces.
MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: A repository path under docs/ named in prose or code, with an optional anchor. Not preceded
#: by a path character, so ``../docs/x.md`` (a relative Markdown link) and ``k8s/docs/x.md`` are not it.
DOCS_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]*?\.md)(?:#([\w-]+))?")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def repo_files() -> list[Path]:
    """Tracked and untracked, not ignored, files of the repository (so no .venv or .git)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk, skipping hidden folders
        names = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            names += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
    return sorted(p for p in (ROOT / n for n in names) if p.is_file())


def text_files(*suffixes: str) -> list[Path]:
    return [p for p in repo_files() if p.suffix in suffixes]


def without_code(markdown: str) -> str:
    """``markdown`` without fenced code blocks and inline code (links there are examples)."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation other than '-' and '_' dropped,
    spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated one also as ``x-1``, ``x-2``...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        s = slug(heading)  # backticks are punctuation: dropped
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    return out


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ----------------------------------------------------------------------------------------- tests
def test_slug_follows_github() -> None:
    assert slug("satsom knobs") == "satsom-knobs"
    assert slug("Shared network knobs") == "shared-network-knobs"
    assert slug("CLASSP: the optimiser (paper, v2)!") == "classp-the-optimiser-paper-v2"
    assert slug("sparse-mlp / sparse_cnn") == "sparse-mlp--sparse_cnn"
    assert anchors("# a\n## a\n```\n# not a heading\n```\n### `b` c\n") == {"a", "a-1", "b-c"}


def test_no_file_points_to_the_spec_outside_the_repository() -> None:
    files = repo_files()
    assert len(files) > 100  # the walk saw the repository
    offenders = [rel(p) for p in files if OUTSIDE_SPEC.encode() in p.read_bytes()]
    assert offenders == [], (f"these files still name {OUTSIDE_SPEC}; point them to the matching "
                             f"section of docs/learners.md instead: {offenders}")


def test_the_learners_page_has_a_section_per_learner() -> None:
    have = anchors(LEARNERS_DOC.read_text())
    for name in ("satsom", "sommask", "classp", "sparse", "hebbian", "naive", "ewc", "joint"):
        assert name in have, f"docs/learners.md has no section #{name}"


@pytest.mark.parametrize("md", text_files(".md"), ids=rel)
def test_relative_markdown_links_resolve(md: Path) -> None:
    doc_anchors = anchors(LEARNERS_DOC.read_text())
    broken = []
    for target in MD_LINK.findall(without_code(md.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        path, _, anchor = unquote(target).partition("#")
        dest = md if not path else (ROOT / path.lstrip("/") if path.startswith("/") else md.parent / path)
        if not dest.exists():
            broken.append(f"{target} (no {rel(dest.resolve()) if ROOT in dest.resolve().parents else dest})")
        elif anchor and dest.resolve() == LEARNERS_DOC and anchor not in doc_anchors:
            broken.append(f"{target} (docs/learners.md has no heading #{anchor})")
    assert broken == [], f"{rel(md)}: broken links {broken}"


def test_docs_paths_named_in_code_and_docs_resolve() -> None:
    doc_anchors = anchors(LEARNERS_DOC.read_text())
    broken = []
    named = 0
    for p in text_files(".py", ".yaml", ".yml", ".md"):
        for path, anchor in DOCS_PATH.findall(p.read_text(errors="replace")):
            named += 1
            if not (ROOT / path).is_file():
                broken.append(f"{rel(p)}: {path} does not exist")
            elif anchor and (ROOT / path).resolve() == LEARNERS_DOC and anchor not in doc_anchors:
                broken.append(f"{rel(p)}: {path}#{anchor} is no heading of docs/learners.md")
    assert named > 10  # the code does point to the docs
    assert broken == []
