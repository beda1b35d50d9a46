"""The documentation: its generated parts (celeb_datasets/docs.py) match the code, and what it promises holds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from celeb_datasets.cli import main
from celeb_datasets.docs import documentation_files, generated_part, part_names, render, stale_files
from celeb_datasets.errors import CelebDatasetsError
from celeb_datasets.registry import DATASETS, builder_class
from celebv_hq import CelebVHQ

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"


# --- the repository's docs -------------------------------------------------------------------------------


def test_every_generated_part_of_the_docs_matches_the_code() -> None:
    files = documentation_files(REPO_ROOT)
    assert README in files and REPO_ROOT / "docs" / "skip-reports.md" in files
    stale = stale_files(files)
    assert not stale, f"{', '.join(map(str, stale))}: out of date: run `celeb-datasets docs` at the repository root"


def test_each_dataset_s_defects_features_and_skip_kinds_are_generated_somewhere_in_the_docs() -> None:
    text = "".join(path.read_text() for path in documentation_files(REPO_ROOT))
    used = set(re.findall(r"^<!-- generated: (.+?) -->$", text, flags=re.MULTILINE))
    wanted = {f"{name} {part}" for name in DATASETS for part in ("known defects", "features", "options", "configs")}
    assert wanted | {"skip kinds"} <= used


def test_the_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) <= 300


def test_every_link_between_the_docs_points_to_a_file_and_heading_that_exist() -> None:
    pages = [*documentation_files(REPO_ROOT), REPO_ROOT / "benchmarks" / "README.md"]
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#:\s]*)(?:#([^)\s]*))?\)", page.read_text()):
            linked = (page.parent / target).resolve() if target else page
            assert linked.exists(), f"{page}: a link to {target}, which does not exist"
            if anchor:
                assert anchor in heading_anchors(linked), f"{page}: a link to {target}#{anchor}: no such heading"


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page (lowercase, punctuation dropped, - for spaces)."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_readme_s_test_command_is_the_one_ci_runs() -> None:
    block = README.read_text().split("## Set-up", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    install_and_sample, test_command = block.strip().splitlines()
    assert "--sample" in install_and_sample
    assert test_command in (REPO_ROOT / ".ci" / "run").read_text().splitlines()


def test_what_the_readme_s_set_up_writes_is_left_out_of_ruff_and_git(tmp_path: Path) -> None:
    # The set-up's first command writes the sample's data folder and its export folder in the repository; the
    # second runs `ruff check .` and `ruff format --check .`, which must not reach them (the card's Python
    # examples, the sample's files), and git must not offer them.
    block = README.read_text().split("## Set-up", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    command = re.search(r"celeb-datasets export (\w+) --sample(?: (?!-)(\S+))? --output (\S+)", block)
    assert command is not None, f"no `celeb-datasets export DATASET --sample ... --output FOLDER` in {block!r}"
    written = [command[2] or f"{command[1]}_sample", command[3]]
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    excluded = set(re.findall(r'"([^"]+)"', re.search(r"^extend-exclude = \[(.*)\]$", pyproject, re.MULTILINE)[1]))
    ignored = set((REPO_ROOT / ".gitignore").read_text().splitlines())
    for folder in written:
        assert folder in excluded and f"/{folder}/" in ignored, folder
    # A copy of the repository's settings with what the set-up writes, here unformatted on purpose.
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "module.py").write_text('"""Formatted."""\n')
    for folder in written:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text("```python\nlabels = stream.select_columns(['clip_id'])\n```\n")
        (tmp_path / folder / "stray.py").write_text("import os,sys\nx=[ 'a' ]\n")
    for check in (["check", "."], ["format", "--check", "."]):
        finished = subprocess.run([sys.executable, "-m", "ruff", *check], cwd=tmp_path, capture_output=True, text=True)
        assert finished.returncode == 0, finished.stdout + finished.stderr


def test_the_install_holds_every_dataset_script_and_package_of_the_repository() -> None:
    # docs/adding-a-dataset.md: a new script and package folder go into pyproject's py-modules and packages.
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()  # tomllib is Python 3.11+: the two lines are read here

    def listed(key: str) -> set[str]:
        return set(re.findall(r'"([^"]+)"', re.search(rf"^{key} = \[(.*)\]$", pyproject, re.MULTILINE)[1]))

    scripts = {path.stem for path in REPO_ROOT.glob("*.py")}
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py") if path.parent.name != "tests"}
    assert listed("py-modules") == scripts
    assert listed("packages") == packages
    for name in DATASETS:
        assert builder_class(name).__module__ in scripts


# --- rendering ---------------------------------------------------------------------------------------------


def test_a_generated_part_is_rewritten_and_the_text_around_it_kept() -> None:
    begin, end = "<!-- generated: celebv_hq known defects -->\n", "<!-- end generated -->\n"
    text = f"# Title\n\nBefore.\n\n{begin}- stale\n{end}After.\n"
    rendered = render(text)
    defects = "".join(f"- {defect}\n" for defect in CelebVHQ.KNOWN_DEFECTS)
    assert rendered == f"# Title\n\nBefore.\n\n{begin}{defects}{end}After.\n"
    assert render(rendered) == rendered


def test_every_part_renders_as_markdown_ending_with_a_newline() -> None:
    for name in [*part_names(), "options of celebv_hq_lib.download:DownloadSettings"]:
        part = generated_part(name)
        assert part.endswith("\n") and not part.endswith("\n\n\n"), name


def test_a_feature_table_gives_each_feature_its_type_configs_and_description() -> None:
    table = generated_part("celebv_hq features")
    assert "| `video` | Video (not decoded: {bytes, path}) | `clips` | The clip's MP4" in table
    assert "| `bbox` | struct of 4 float64: top, bottom, left, right | every config |" in table
    labels = "class label (neutral, happy, anger, sadness, contempt, fear, disgust, surprise)"
    assert f"| `emotion_segments` | list of {{emotion: {labels}; start_sec: float64; end_sec: float64}} |" in table


def test_an_options_table_lists_flags_older_names_defaults_and_whether_the_rows_change() -> None:
    table = generated_part("celebv_hq options")
    assert "Fixed by the config's name (choose another config to change them): `annotations`: with_video=false" in table
    assert "| `with_video` |" not in table
    row = "| `retry_backoff_sec` | `--retry-backoff-sec`, `--retry-backoff` | float | 5.0 | no |"
    assert row in table
    assert '| `crop` | `--crop` | "official" or "none" | "official" | yes |' in table
    # The config's own options come first, as in `--help`.
    assert table.index("`seek_gap_sec`") < table.index("`crop`") < table.index("`url_template`")


def test_every_feature_of_every_config_has_a_description() -> None:
    for name in DATASETS:
        builder = builder_class(name)
        for config in builder.BUILDER_CONFIGS:
            missing = set(config.features()) - set(builder.FEATURE_DESCRIPTIONS)
            assert not missing, f"{name}/{config.name}: FEATURE_DESCRIPTIONS lacks {sorted(missing)}"


def test_an_unknown_part_is_an_error_naming_the_file_the_line_and_the_parts() -> None:
    text = "intro\n<!-- generated: celebv_hq secrets -->\n<!-- end generated -->\n"
    expected = r"^notes\.md: line 2: no generated part is called 'celebv_hq secrets'; the parts: 'celebv_hq configs'"
    with pytest.raises(CelebDatasetsError, match=expected):
        render(text, "notes.md")


def test_a_part_without_its_end_line_is_an_error_naming_the_file_and_the_line() -> None:
    text = "<!-- generated: skip kinds -->\nold\n<!-- generated: celebv_hq configs -->\n<!-- end generated -->\n"
    with pytest.raises(CelebDatasetsError, match=r"^notes\.md: line 1: the generated part 'skip kinds' has no"):
        render(text, "notes.md")


def test_options_of_a_class_that_is_not_a_dataclass_of_options_is_an_error() -> None:
    with pytest.raises(CelebDatasetsError, match="expected MODULE:CLASS"):
        generated_part("options of celebv_hq_lib.download:NoSuchThing")


# --- the command -------------------------------------------------------------------------------------------


def test_docs_check_fails_on_a_stale_file_and_docs_rewrites_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.md"
    page.write_text("Configs:\n\n<!-- generated: celeba_dialog configs -->\n<!-- end generated -->\n")
    assert main(["docs", "--check", str(page)]) == 1
    assert f"{page} is out of date: run `celeb-datasets docs`" in capsys.readouterr().err
    assert main(["docs", str(page)]) == 0
    assert "| `hq` (default) | 30,000: train 24,183 / validation 2,993 / test 2,824 |" in page.read_text()
    assert main(["docs", "--check", str(page)]) == 0


def test_docs_without_files_renders_readme_and_docs_of_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["docs", "--check"]) == 2
    assert "error: no README.md or docs/*.md in" in capsys.readouterr().err
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "kinds.md").write_text("<!-- generated: skip kinds -->\n<!-- end generated -->\n")
    assert main(["docs"]) == 0
    assert "`odd emotion segment`" in (tmp_path / "docs" / "kinds.md").read_text()
