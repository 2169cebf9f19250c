"""Reading a ``/metrics`` page back into numbers, for tests and health checks."""

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["metric_samples", "metric_value"]


def metric_samples(exposition: bytes | str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page: ``(name, labels) -> value``.

    Parsing with prometheus-client's own parser, rather than matching lines, means a
    test fails when the page is not valid exposition text, not only when a figure
    is wrong.
    """
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_value(exposition: bytes | str, name: str, **labels: str) -> float:
    """The value of one sample, e.g. ``metric_value(page, "retailpulse_jobs", status="failed")``.

    Raises ``KeyError`` naming the sample when the page does not have it.
    """
    key = (name, frozenset(labels.items()))
    samples = metric_samples(exposition)
    if key not in samples:
        raise KeyError(f"no sample {name}{labels or ''} on the metrics page")
    return samples[key]
