"""Local sandboxes: servers that implement each platform's documented API over SQLite.

They are the embedded default for the demo, the examples and the tests, and a product of their
own: CI can run against them without credentials.
"""
