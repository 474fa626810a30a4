"""docs/REPRODUCING.md against the presets: every documented official value is the resolved value.

Each paper preset has one table in the document, `<!-- preset: NAME -->` followed by rows
`| key | value | source |` whose value is a JSON literal. The tables are parsed here with `json`
and compared with `td.experiment.config.resolve_config(NAME)` key by key, so a preset and the page
that justifies it cannot drift apart; conversely every value a preset sets beyond the defaults (the
logging intervals aside) must appear in its table with a source. No TensorFlow needed.
"""

import json
import os
import re

import pytest

from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import presets as presets_lib
from tf_diffaug.experiment import schema

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "REPRODUCING.md")

# The paper presets of issue 13, written out: each reproduces an official training script.
PAPER_PRESETS = [
    "biggan-cifar10",
    "biggan-cifar10-20pct",
    "biggan-cifar10-10pct",
    "biggan-cifar10-10pct-lecam",
    "sngan-cifar10",
    "sngan-cifar10-10pct-ticket",
    "sngan-cifar10-10pct-ticket-diffaug",
    "stylegan2-lowshot-256",
]

# Keys that describe the run's bookkeeping, not the protocol (a table need not list them).
BOOKKEEPING = {"preset", "source", "log_every", "checkpoint_every", "grid_size", "strategy", "jit_compile"}

_MARKER = re.compile(r"^<!-- preset: (?P<name>[\w.-]+) -->$")


def parse_tables(text):
    """`{preset: [(key, value_text, source), ...]}` of every `<!-- preset: NAME -->` table of `text`."""
    tables = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _MARKER.match(line.strip())
        if not match:
            continue
        name = match.group("name")
        if name in tables:
            raise AssertionError(f"preset {name!r} has two tables in {DOC}")
        header, rule = lines[index + 1].strip(), lines[index + 2].strip()
        if header != "| key | value | source |" or not re.fullmatch(r"\|( --- \|){3}", rule):
            raise AssertionError(f"the table of {name!r} must start with '| key | value | source |', got {header!r}")
        rows = []
        for row in lines[index + 3 :]:
            if not row.startswith("|"):
                break
            cells = row.strip()[1:-1].split("|")
            if len(cells) < 3:
                raise AssertionError(f"row {row!r} of {name!r} has no source column")
            key, value, source = cells[0].strip(), cells[1].strip(), "|".join(cells[2:]).strip()
            rows.append((key, value, source))
        tables[name] = rows
    return tables


@pytest.fixture(scope="module")
def document():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def tables(document):
    return parse_tables(document)


def test_every_paper_preset_has_one_table_and_no_table_names_another(tables):
    assert sorted(presets_lib.PAPER_PRESETS) == sorted(PAPER_PRESETS)
    assert set(PAPER_PRESETS) <= set(presets_lib.PRESETS)
    assert sorted(tables) == sorted(PAPER_PRESETS)


def test_the_document_is_no_draft(document):
    assert "draft" not in document.lower()
    assert "## Deliberate departures" in document


def _same(documented, resolved):
    """Equal as values (1e-08 == 1e-8, 0 == 0.0) but a bool only equals a bool."""
    if isinstance(documented, bool) or isinstance(resolved, bool):
        return type(documented) is type(resolved) and documented == resolved
    return documented == resolved


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_each_table_value_is_the_resolved_preset_value(name, tables):
    config = config_lib.resolve_config(name)
    rows = tables[name]
    keys = [key for key, _, _ in rows]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    unknown = sorted(set(keys) - set(schema.KEY))
    assert not unknown, f"{name}: table keys {unknown} are not configuration keys"
    wrong = {}
    for key, text, _ in rows:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise AssertionError(f"{name}: the value {text!r} of {key} is not a JSON literal") from None
        if not _same(value, config[key]):
            wrong[key] = (value, config[key])
        schema.KEY[key].validate(value)
    assert not wrong, f"{name}: documented vs resolved {wrong}"


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_every_value_a_preset_sets_is_documented_with_a_source(name, tables):
    config = config_lib.resolve_config(name)
    rows = {key: source for key, _, source in tables[name]}
    set_keys = {k for k, v in config.items() if not _same(v, presets_lib.DEFAULTS[k]) and k not in BOOKKEEPING}
    missing = sorted(set_keys - set(rows))
    assert not missing, f"{name}: {missing} differ from the defaults but are not in its table"
    for key in set_keys:
        assert rows[key], f"{name}: {key} has no source"


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_each_section_gives_the_command_and_the_published_result(name, document):
    section = document.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    assert f"`python -m train --preset={name}" in section
    assert "- Published FID" in section and "- GPU time" in section
