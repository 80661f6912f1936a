"""Reports: pure figure builders and self-contained HTML writers."""
