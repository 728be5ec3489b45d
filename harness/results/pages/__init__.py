"""Static results pages: MLPerf's summary.html per system, a run page per run, and the results index."""

from harness.results.pages.render import render_after_run, render_results, render_submission

__all__ = ["render_after_run", "render_results", "render_submission"]
