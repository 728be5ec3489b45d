"""Regression checks over the history store: per metric, today's run against the median of the series'
last good runs, beyond both the series' own noise and a floor; validity and accuracy-log changes; and
change points over the whole history (when a shift began)."""
