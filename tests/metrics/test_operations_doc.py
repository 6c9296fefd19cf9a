"""``docs/operations.md`` cannot drift from ``/metrics``: its table lists every metric the
app serves and nothing else, and its alert rules (valid YAML, one rule group) and queries
name only metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from starlette.testclient import TestClient

from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.service import KeyService
from tests.conftest import TEST_KEK

DOC = Path(__file__).parents[2] / "docs" / "operations.md"
NAME = re.compile(r"\bkeyrotor_[a-z_]+\b")


def _served(service: KeyService) -> dict[str, str]:
    """Every keyrotor metric name a scrape announces, with its type."""
    app = create_app(service, Settings(database_url="memory://", kek=TEST_KEK), sweep=False)
    with TestClient(app) as client:
        text = client.get("/metrics").text
    return dict(re.findall(r"^# TYPE (keyrotor_\S+) (\S+)$", text, re.MULTILINE))


def _sample_names(served: dict[str, str]) -> set[str]:
    names = set(served)
    for name, kind in served.items():
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_table_lists_every_metric_served(service: KeyService) -> None:
    served = _served(service)
    rows = re.findall(r"^\| `(keyrotor_[a-z_]+)` \| (\w+) \|", DOC.read_text(), re.MULTILINE)
    assert dict(rows) == served


def test_the_rules_and_queries_name_only_metrics_served(service: KeyService) -> None:
    names = _sample_names(_served(service))
    (rules,) = _blocks("yaml")[1:]  # the first block is the scrape configuration
    loaded = yaml.safe_load(rules)
    found = loaded["groups"][0]["rules"]
    assert {"KeyrotorRotationOverdue", "KeyrotorNoNextKey", "KeyrotorStoreErrors"} <= {
        rule["alert"] for rule in found
    }
    assert {"KeyrotorJwks5xx", "KeyrotorNotReady", "KeyrotorKeyPoolEmpty"} <= {
        rule["alert"] for rule in found
    }
    used = {n for rule in found for n in NAME.findall(rule["expr"])}
    used |= {n for block in _blocks("promql") for n in NAME.findall(block)}
    assert used and used <= names, used - names
