"""docs/testing-your-resource-server.md and the README's plugin example, run as a reader
would run them: their code blocks written out as files (each after its
``<!-- file: NAME -->`` line) and pytest run on them in a process of its own, with the
plugin loaded by its entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # real server processes, in pytest processes of their own
ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "testing-your-resource-server.md"
README = ROOT / "README.md"
BLOCK = re.compile(
    r"^(?:<!-- file: (?P<name>\S+) -->\n)?```python\n(?P<code>.*?)^```$", re.M | re.S
)
STRICT = "[pytest]\nfilterwarnings = error\n"  # as a careful project would run it


def files_of(page: Path, *, every_block: bool) -> dict[str, str]:
    """The files a page's python blocks make; with ``every_block``, an unnamed block (code
    a reader would see but no test would run) fails."""
    files: dict[str, str] = {}
    for block in BLOCK.finditer(page.read_text()):
        name = block["name"]
        if name is None:
            assert not every_block, f"a python block of {page.name} is not run\n{block['code']}"
            continue
        files[name] = files.get(name, "") + block["code"]
    return files


def test_every_python_block_of_the_doc_is_a_file_that_runs() -> None:
    assert set(files_of(DOC, every_block=True)) == {"verifiers.py", "test_resource_server.py"}
    assert set(files_of(README, every_block=False)) == {"test_readme.py"}


def test_the_worked_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=STRICT)
    files = files_of(DOC, every_block=True) | files_of(README, every_block=False)
    for name, code in files.items():
        (pytester.path / name).write_text(code)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=240)
    result.assert_outcomes(passed=17)
