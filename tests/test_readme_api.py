"""README's Python tour, run as written on a small CSV: it must use only ``rnnmod.<name>`` and
work end to end (train, decompose, save, evaluate, predict, compose, export)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
WORDS = {
    "travel": "flight paris hotel trip book train ticket airport".split(),
    "banking": "balance account transfer money bank card deposit".split(),
    "weather": "rain sunny forecast cold snow wind today".split(),
}


def python_tour() -> str:
    section = README.read_text(encoding="utf-8").split("## The Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_section_imports_only_the_public_api() -> None:
    code = python_tour()
    assert "import rnnmod" in code
    assert not re.search(r"from rnnmod[.\w]* import|import rnnmod\.", code)


@pytest.mark.slow
def test_readme_python_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(0)
    rows = ["text,label"]
    for i in range(240):
        label = list(WORDS)[i % 3]
        rows.append(f"{' '.join(rnd.choices(WORDS[label], k=rnd.randint(3, 7)))},{label}")
    (tmp_path / "intents.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_tour(), "README.md", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "mods" / "intents" / "manifest.json").is_file()
    assert namespace["pair"].labels == ["travel", "banking"]
    assert namespace["res"]["n_modules"] == 3
