"""The nightly report: results/nightly/<date>/index.html with one row per cell (baseline, today, change,
noise band, verdict, links to the run pages), a history plot per metric, and summary.json beside it."""
