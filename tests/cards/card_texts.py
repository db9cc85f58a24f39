"""Card texts for the card-check tests, built from the OTDI template itself."""

from __future__ import annotations

from typing import Any

import jinja2

from core.spec import CARD_TEMPLATE_PATH

FRONT_MATTER = """\
license: cdla-permissive-2.0
license_name: Community Data License Agreement Permissive 2.0
pretty_name: Ocean Temperature Readings
source_datasets: []
unique_metadata_identifier: urn:otdi:ocean-temperature-readings:v1
language:
  - en
task_categories:
  - time-series-forecasting
size_categories:
  - 10K<n<100K"""

FIELDS: dict[str, Any] = {
    "card_data": FRONT_MATTER,
    "pretty_name": "Ocean Temperature Readings",
    "dataset_summary": "Hourly sea-surface temperatures from 40 moored buoys, 2019-2023.",
    "dataset_description": (
        "Readings from buoys of the Example Marine Lab network, cleaned and resampled to "
        "one value per hour, with station metadata."),
    "curators": "Example Marine Lab",
    "funded_by": "Example Ocean Foundation",
    "shared_by": "Example Marine Lab",
    "language": "en",
    "license": "cdla-permissive-2.0",
    "repo": "https://huggingface.co/datasets/example/ocean-temps",
    "paper": "https://example.org/paper",
    "demo": "https://example.org/demo",
    "uses": "Climate research and forecasting models.",
    "direct_use": "Training time-series forecasting models.",
    "out_of_scope_use": "Navigation or safety decisions.",
    "dataset_structure": "One Parquet file per station; columns time, station, temp_c.",
    "curation_rationale_section": "Open, clean ocean temperature data is scarce.",
    "source_data": "Raw buoy telemetry owned by Example Marine Lab.",
    "data_collection_and_processing_section": (
        "Telemetry was pulled hourly, outliers beyond 5 sigma removed, gaps left empty."),
    "source_data_producers_section": "Automated buoys run by Example Marine Lab.",
    "source_metadata_for_dataset": "All metadata is in this card and in stations.csv.",
    "consent_documentation_location": "Not applicable: first-party sensor data, no people.",
    "data_origin_geography": "North Atlantic",
    "data_processing_geography_inclusion_exclusion": "None",
    "data_storage_geography_inclusion_exclusion": "None",
    "proprietary_data_presence": "No",
    "dataset_issue_date": "2024-05-31",
    "range_dates_data_generation": "2019-01-01 to 2023-12-31",
    "annotation_process_section": "No annotations.",
    "who_are_annotators_section": "Nobody.",
    "personal_and_sensitive_information": "None",
    "use_of_privacy_enhancing_technologies_pets": "No",
    "bias_risks_limitations": "Coverage is limited to 40 stations; winter storms cause gaps.",
    "bias_recommendations": "Check gaps before training.",
    "citation_bibtex": "@misc{ocean}",
    "citation_apa": "Example Marine Lab (2024).",
    "glossary": "SST: sea-surface temperature.",
    "more_information": "https://example.org",
    "dataset_card_authors": "Ada Example",
    "dataset_card_contact": "data@example.org",
}


def render_template(**overrides: Any) -> str:
    """The OTDI card template rendered with FIELDS (and overrides), comment kept.

    The leading comment mentions "{{ card data }}", which is no valid Jinja, so it is
    kept aside and put back as it is.
    """
    source = CARD_TEMPLATE_PATH.read_text(encoding="utf-8")
    comment, rest = source.split("-->", 1)
    template = jinja2.Template(rest, keep_trailing_newline=True)
    return comment + "-->" + template.render(**{**FIELDS, **overrides})


def without_leading_comment(text: str) -> str:
    """The card as the template says to ship it: the leading HTML comment removed."""
    return text.split("-->", 1)[1].lstrip()


def valid_card(**overrides: Any) -> str:
    """A complete OTDI card: every required field filled in."""
    return without_leading_comment(render_template(**overrides))


def drop_section(text: str, heading: str) -> str:
    """The card without the heading whose title starts with ``heading`` and its text."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("#") and line.lstrip("#").strip().startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[:start] + lines[end:])


def drop_line(text: str, start: str) -> str:
    """The card without the lines starting with ``start``."""
    return "\n".join(line for line in text.split("\n") if not line.startswith(start))


def set_yaml(text: str, key: str, value: str | None) -> str:
    """The card with front-matter line ``key: ...`` replaced by ``value`` (None: removed)."""
    lines = text.split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    if value is None:
        del lines[index]
    else:
        lines[index] = f"{key}: {value}"
    return "\n".join(lines)


def add_yaml(text: str, line: str) -> str:
    """The card with one more line at the end of its front matter."""
    head, rest = text.split("\n---\n", 1)
    return f"{head}\n{line}\n---\n{rest}"
