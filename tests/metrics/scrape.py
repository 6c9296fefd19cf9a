"""Reading ``/metrics`` in the tests: Prometheus's own parser, samples by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Samples:
    """Every sample of one scrape: ``(name, labels) -> value``."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Samples:
        values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(values)

    def get(self, name: str, /, **labels: str) -> float | None:
        """The sample with exactly these labels, or ``None``."""
        return self.values.get((name, frozenset(labels.items())))

    def __call__(self, name: str, /, **labels: str) -> float:
        found = self.get(name, **labels)
        assert found is not None, f"no sample {name}{labels} in {self.names(name)}"
        return found

    def total(self, name: str, /, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include these."""
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.values.items() if n == name and wanted <= found)

    def labels(self, name: str, label: str) -> set[str]:
        return {
            dict(found)[label] for (n, found) in self.values if n == name and label in dict(found)
        }

    def names(self, name: str) -> list[str]:
        return [f"{n}{dict(found)}" for (n, found) in self.values if n == name]
