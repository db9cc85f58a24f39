"""Cards as people really write them: renamed headings, CRLF, BOM, tabs, other layouts."""

from __future__ import annotations

from core.cards import check_card

REAL_CARD = """\
---
# Metadata for the Hub
license: cdla-permissive-2.0
license_name: "CDLA-Permissive-2.0"
pretty_name: 'Ocean Temps'
source_datasets: ["original"]
language: [en, fr]
task_categories: [time-series-forecasting, tabular-regression]
tags:
\t- ocean
---
Ocean Temps
===========

Hourly sea temperatures from 40 buoys.

Unique metadata identifier: doi:10.1234/ocean-temps

## Dataset description

Cleaned buoy readings, one row per station and hour.

**Curated by**: Example Marine Lab
**Language(s)**: en

## Sources

* Repository: <https://huggingface.co/datasets/example/ocean-temps>

## Creation

### Data collection & processing

Pulled hourly; outliers removed.

```text
# Personal and Sensitive Information
this line is in a code block and is no heading
```

### Who are the source data producers

The buoys.

### Source metadata

In stations.csv.

### Consent documentation

Not applicable (no people involved).

### Personal & Sensitive Information (optional)

None: the data are sensor readings.

### PETs used?

No

### Issue date

**2024-05-31**

### Date range

2019-01-01 to 2023-12-31

### Proprietary data

no

Bias, risks and limitations
---------------------------

Only 40 stations; storms cause gaps.

\t- winter gaps
\t- one sensor type

## Card authors

Ada Example
"""


def test_a_real_world_card_with_renamed_headings_passes() -> None:
    data = "\ufeff".encode() + REAL_CARD.replace("\n", "\r\n").encode()
    report = check_card(data, "README.md")
    assert [(f.code, f.field) for f in report.findings] == [
        ("yaml_tabs", "front_matter")]


def test_the_same_card_with_spaces_passes_cleanly() -> None:
    text = REAL_CARD.replace("tags:\n\t- ocean", "tags:\n  - ocean")
    report = check_card(text.encode(), "README.md")
    assert report.findings == []
    assert (report.pretty_name, report.license) == ("Ocean Temps", "cdla-permissive-2.0")


def test_headings_inside_code_blocks_do_not_count() -> None:
    text = REAL_CARD.replace("tags:\n\t- ocean", "tags:\n  - ocean").replace(
        "### Personal & Sensitive Information (optional)\n\nNone: the data are sensor readings.\n",
        "")
    fields = [f.field for f in check_card(text.encode(), "README.md").findings]
    assert fields == ["personal_and_sensitive_information"]


def test_typo_in_a_heading_is_tolerated() -> None:
    text = REAL_CARD.replace("tags:\n\t- ocean", "tags:\n  - ocean").replace(
        "### Consent documentation", "### Consent Documentaton Location")
    assert check_card(text.encode(), "README.md").findings == []
