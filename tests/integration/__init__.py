"""Integration tests: real SQLite stores, the HTTP app, mocked or real peers."""
