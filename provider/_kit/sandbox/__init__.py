"""What every platform's sandbox shares: fault injection and the access log (`faults`), serving
with connection limits and idle timeouts (`serve`), and owner-only files (`private`).

A sandbox is a local server implementing one platform's API over SQLite: the embedded default
for the demo and the tests, and a product of its own, since CI can run against it without
credentials. Each platform's sandbox lives in its own folder, `provider/<platform>/sandbox/`.
"""
