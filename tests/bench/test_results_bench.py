"""``retailpulse bench --results`` run small for real: it measures, and the memory promise holds."""

from retailpulse.bench.processes import ImageServerProcess
from retailpulse.bench.results import FORMATS, measure_results, results_table

MIB_BUDGET = 8.0
"""The promise at 24,000 images (docs/results.md); a smaller job must stay inside it too."""


def test_reading_a_jobs_results_in_every_format_grows_peak_rss_by_under_8_mib() -> None:
    with ImageServerProcess() as server:
        figures = measure_results(server.base_url, 2_000, 5_000, say=lambda _: None)

    print(results_table(figures))  # the figures, for whoever reads the test log
    assert set(figures.read_s) == set(FORMATS)
    assert all(figures.body_mib[fmt] > 0.1 for fmt in FORMATS)  # the whole job was read
    assert all(figures.first_byte_ms[fmt] > 0 for fmt in FORMATS)
    assert 0 <= figures.growth_mib < MIB_BUDGET
