"""The notebooks follow the book and speak one notation.

- Sections: a chapter that declares its book sections (``Chapter.book_sections``) has exactly
  those numbered "## " headings, in order, and its opening says which sections it covers; any
  other notebook's numbered headings start with its own number and increase.
- Notation: every ``Shape:`` section and shape comment of ``course/`` and ``reference/`` uses the
  dimension letters of ``reference/notation.py`` only, every notebook links ``docs/NOTATION.md``,
  and that page is rendered from the glossary.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autograder.chapters import all_chapters
from reference import notation

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = all_chapters()
SOURCES = {cid: ROOT / "course" / ch.notebook for cid, ch in CHAPTERS.items()}
CODE_FILES = sorted([*SOURCES.values(), *(ROOT / "reference").glob("*.py")])
NUMBERED = re.compile(r"^# ## ((?:\d+|[A-Z])\.\d+)\s+(\S.*)$")


def numbered_headings(source: Path) -> list[tuple[str, str]]:
    """(number, title) of every numbered "## " heading."""
    return [m.groups() for line in source.read_text().splitlines()
            if (m := NUMBERED.match(line))]


def opening(source: Path) -> str:
    """The first markdown cell: the notebook's title and introduction."""
    text = source.read_text()
    start = text.index("# %% [markdown]")
    end = text.index("# %%", start + len("# %% [markdown]"))
    return text[start:end]


@pytest.mark.parametrize("cid", sorted(CHAPTERS))
def test_headings_carry_the_book_section_numbers_in_order(cid):
    chapter, headings = CHAPTERS[cid], numbered_headings(SOURCES[cid])
    found = [number for number, _ in headings]
    if chapter.book_sections:
        numbers = [s.split()[0] for s in chapter.book_sections]
        assert found == numbers, (
            f"{chapter.notebook}: numbered '## ' headings {found}, the book's sections are "
            f"{numbers} (material beyond the book is a marked '###' subsection of the nearest "
            "section, not a new number)")
        for (number, title), section in zip(headings, chapter.book_sections):
            word = section.partition(" ")[2]
            assert word.lower() in title.lower(), \
                f"{chapter.notebook}: '## {number} {title}' is not the book's {number} ({word})"
        first, last = numbers[0], numbers[-1]
        covered = first if first == last else f"{first}–{last}"
        assert covered in opening(SOURCES[cid]), \
            f"{chapter.notebook}: the opening should say it follows Sections {covered} of the book"
        return
    prefix = cid[3:] if cid.startswith("app") else str(int(cid[2:]))
    assert all(n.split(".")[0] == prefix for n in found), (cid, found)
    minors = [int(n.split(".")[1]) for n in found]
    assert minors == sorted(set(minors)), f"{cid}: section numbers out of order: {found}"


def shape_texts(path: Path):
    """(line number, text) of every Shape: section line and every shape comment of a file."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("Shape:") and ("#" not in line.split("Shape:")[0]):
            indent = len(line) - len(line.lstrip())
            rest = line.split("Shape:", 1)[1]
            if rest.strip():
                yield i + 1, rest
            i += 1
            while i < len(lines) and lines[i].strip() and '"""' not in lines[i] and \
                    len(lines[i]) - len(lines[i].lstrip()) > indent:
                yield i + 1, lines[i]
                i += 1
            continue
        comment = re.search(r"#\s*(\([^)]*,[^)]*\))\s*$", line)
        if comment and all(SHAPE_ITEM.match(item) for item in comment.group(1)[1:-1].split(",")):
            yield i + 1, comment.group(1)
        i += 1


SHAPE_ITEM = re.compile(r"^\s*(\.\.\.|\d*[A-Za-z_]\w*|\d+)(\s*[-+*/]\s*(\d+|[A-Za-z_]\w*))*\s*$")
CAPITAL = re.compile(r"(?<![A-Za-z_.])[A-Z][A-Za-z]*(?![\w(])")


@pytest.mark.parametrize("path", CODE_FILES, ids=lambda p: p.stem)
def test_shapes_use_the_glossary_letters(path):
    unknown = []
    for lineno, text in shape_texts(path):
        for group in re.findall(r"\(([^()]*)\)", text):
            for token in CAPITAL.findall(group):
                if token not in notation.LETTERS:
                    unknown.append(f"{path.relative_to(ROOT)}:{lineno}: {token!r} in ({group})")
    assert not unknown, ("dimension letters outside reference/notation.py (a count that is not a "
                         "main quantity is written in lower case):\n" + "\n".join(unknown))


@pytest.mark.parametrize("cid", sorted(CHAPTERS))
def test_notebook_links_the_notation(cid):
    assert "NOTATION.md" in SOURCES[cid].read_text(), \
        f"{CHAPTERS[cid].notebook}: its Conventions should link docs/NOTATION.md"


def test_notation_page_is_rendered_from_the_glossary():
    page = ROOT / "docs" / "NOTATION.md"
    assert page.read_text() == notation.render_markdown(), \
        "docs/NOTATION.md is stale: write reference.notation.render_markdown() to it"


@pytest.mark.parametrize("cid", sorted(c for c, ch in CHAPTERS.items() if ch.book_sections))
def test_readme_chapter_map_names_the_book_sections(cid):
    chapter = CHAPTERS[cid]
    first, last = (s.split()[0] for s in (chapter.book_sections[0], chapter.book_sections[-1]))
    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith(f"| {cid[2:].lstrip('0')} | "))
    assert f"book §{first}–{last}" in row, row[:120]
