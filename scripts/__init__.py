"""Scripts a user runs to fetch and prepare real datasets and weights (they need internet)."""
