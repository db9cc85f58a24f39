"""The OTDI facts (form fields, terms, card requirements, licenses) as loaded data.

The YAML lives in ``core/otdi/spec.yaml`` so the code never hard-codes what the
OTDI site says; when the site changes, the data file changes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).parent / "otdi"
SPEC_PATH = SPEC_DIR / "spec.yaml"
CARD_TEMPLATE_PATH = SPEC_DIR / "datasetcard_otdi_template.md"


@cache
def load_spec() -> dict[str, Any]:
    """The parsed spec; cached because it is static package data (libyaml when there)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader


def form_field(key: str) -> dict[str, Any]:
    """One field of the contribution form, by key (``name``, ``domain``...)."""
    for field in load_spec()["contribution_form"]["fields"]:
        if field["key"] == key:
            return field
    raise KeyError(key)


def terms() -> str:
    return load_spec()["contribution_form"]["terms"]


def modality_choices() -> list[str]:
    field = form_field("modalities")
    return list(field["choices"]) + list(field.get("newer_site_adds", []))


def domain_groups() -> dict[str, list[str]]:
    return dict(form_field("domain")["choices"])


def domain_choices() -> list[str]:
    return [domain for group in domain_groups().values() for domain in group]


def permissive_licenses() -> dict[str, dict[str, Any]]:
    return dict(load_spec()["permissive_licenses"])


def card_requirements() -> dict[str, Any]:
    return dict(load_spec()["dataset_card"])
