"""Integration test harness for mailpull (Python 3 standard library only)."""
