"""Log parsing, run records, the results store and the pages built from them."""
