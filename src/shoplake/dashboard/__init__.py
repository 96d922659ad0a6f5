"""The web dashboard and the HTML report over gold and system tables."""
