"""README introduces company datasets: what they are, where their YAML goes, how keys read
them, and where the whole reference is."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_a_company_datasets_section_pointing_to_the_reference() -> None:
    text = (ROOT / "README.md").read_text()
    assert "## Company datasets" in text
    section = text.split("## Company datasets", 1)[1].split("\n## ", 1)[0]
    for needed in ("defs.yaml", "company/defs/", "/v1/datasets/", "pii", "tenant", "masked"):
        assert needed in section, needed
    link = "docs/company-datasets.md"
    assert f"]({link})" in section and (ROOT / link).is_file()
