"""`--help` of both entry points lists every schema key by group, then the presets; the docs table is current.

The help text is parsed back into sections (by the group titles) and compared with the schema's
keys; the presets section with `PRESETS` and their descriptions.
"""

import os
import subprocess
import sys
import sysconfig

import pytest

from tests.experiment.command_line import REPO
from tests.helpers import processes
from tf_diffaug import experiment
from tf_diffaug.experiment import schema, usage


def sections(text):
    """{group: text of that group's section} from a help text, checking the titles come in schema order."""
    titles = [f"\n{title}:\n" for _, title in schema.GROUPS] + ["\nPresets (--preset=NAME"]
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions), "group sections out of order"
    return {group: text[start:end] for (group, _), start, end in zip(schema.GROUPS, positions, positions[1:])}


def flags_listed(section):
    """The flag names at the start of the section's lines (`  --name=...` or `  --[no]name`)."""
    names = []
    for line in section.splitlines():
        if line.startswith("  --"):
            names.append(line[4:].removeprefix("[no]").split("=")[0].strip())
    return names


def check_help(text, program):
    assert text.startswith(f"Usage: {program} [--flag=value ...]\n")
    found = sections(text)
    for group, _ in schema.GROUPS:
        expected = [key.name for key in schema.KEYS if key.group == group]
        expected += ["lr"] if group == "objective" else []
        assert sorted(flags_listed(found[group])) == sorted(expected), group
    for key in schema.KEYS:  # the flag form says how to pass it
        form = f"  --[no]{key.name}\n" if key.type is bool and not key.literals else f"  --{key.name}="
        assert form in text, key.name
    presets = text[text.index("\nPresets (--preset=NAME") :].strip().splitlines()[1:]
    assert [line.split()[0] for line in presets] == sorted(experiment.PRESETS)
    for line, name in zip(presets, sorted(experiment.PRESETS)):
        assert line.endswith(experiment.PRESETS[name]["description"]), line
    for flag in ("--config=PATH", "--workdir=PATH", "--[no]resume", "--[no]dry_run", "--[no]list_presets"):
        assert f"\n  {flag}\n" in text


def test_help_text_shows_defaults_and_the_default_presets_values():
    from train import main as cli

    text = cli.help_text("python -m train")
    check_help(text, "python -m train")
    steps = text[text.index("  --steps=INT") : text.index("  --log_every=")]
    assert "[default: 1000; fewshot-cpu: 3000] [resumable]" in " ".join(steps.split())
    epsilon = " ".join(text[text.index("  --adam_epsilon=") : text.index("  --d_steps=")].split())
    assert "Accepts a number > 0. [default: 1e-07]" in epsilon  # same in the preset: no second value
    assert "[resumable]" not in epsilon


@pytest.mark.slow
@pytest.mark.parametrize("argument", ["--help", "-h", "--helpshort"])
def test_python_m_train_help(argument):
    proc = subprocess.run(
        processes.python_command("-m", "train", argument),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=processes.environment(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_help(proc.stdout, "python -m train")


@pytest.mark.slow
def test_installed_console_script_help(tmp_path):
    script = os.path.join(sysconfig.get_path("scripts"), "tf-diffaug-train")
    assert os.path.exists(script), f"{script} is not installed (pip install -e .)"
    proc = subprocess.run([script, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_help(proc.stdout, "tf-diffaug-train")
    listed = subprocess.run([script, "--list_presets"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stdout == usage.presets_text()


@pytest.mark.slow
def test_helpfull_still_lists_absls_flags_and_ours():
    proc = subprocess.run(
        [sys.executable, "-m", "train", "--helpfull"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert "absl.logging:" in proc.stdout and "train.schema_flags:" in proc.stdout
    for key in schema.KEYS:
        assert f"--{'[no]' if key.flag_is_bool else ''}{key.name}:" in proc.stdout, key.name


def test_docs_flag_table_is_generated_from_the_schema():
    with open(os.path.join(REPO, "docs", "TRAINING.md")) as f:
        docs = f.read()
    assert usage.replace_table(docs) == docs, (
        "docs/TRAINING.md's flag table is stale: run python -m tf_diffaug.experiment.usage --markdown --write docs/TRAINING.md"
    )
    table = docs[docs.index(usage.BEGIN_MARKER) : docs.index(usage.END_MARKER)]
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    expected = []
    for group, _ in schema.GROUPS:  # schema order, --lr after --d_lr
        for key in schema.keys_of(group):
            expected += [key.name] + (["lr"] if key.name == "d_lr" else [])
    assert [row.split("`")[1].removeprefix("--") for row in rows] == expected
    for key in schema.KEYS:
        (row,) = [r for r in rows if r.startswith(f"| `--{key.name}` |")]
        assert ("may change" in row) == key.resumable and key.help.replace("|", "\\|") in row


def test_regenerating_the_docs_table_writes_the_markers_content(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text(f"# Title\n\n{usage.BEGIN_MARKER}\nold table\n{usage.END_MARKER}\n\nAfter.\n")
    usage.main(["--markdown", "--write", str(path)])
    assert (
        path.read_text()
        == f"# Title\n\n{usage.BEGIN_MARKER}\n\n{usage.markdown_table()}\n{usage.END_MARKER}\n\nAfter.\n"
    )
    with pytest.raises(ValueError, match="no flag table markers"):
        usage.replace_table("# no markers\n")
