"""What every platform's sandbox shares, so that a platform's sandbox holds only its routes and
rules.

- `app`: `SandboxSpec` (what a platform brings) and `assemble` (the FastAPI app around it);
- `store`: SQLite, WAL, one transaction per request, owner-only files, a size limit;
- `sessions`: server-side session tokens and API keys as auth schemes, password hashing;
- `errors`: the `Envelope` protocol each platform supplies, and errors named by status;
- `listing`: sorting and offset, page-index and cursor paging around the platform's filter;
- `faults` (fault injection, the body limit, the one token bucket) and `accesslog`;
- `fields`: request text SQLite can store;
- `settings`: the settings and their checks, free of server imports;
- `serve`: serving with connection limits and idle timeouts; `private`: owner-only files;
- `cli`: `platforge sandbox <platform>`, from each platform's `PlatformSandbox`.

A sandbox is a local server implementing one platform's API over SQLite: the embedded default
for the demo and the tests, and a product of its own, since CI can run against it without
credentials. Each platform's sandbox lives in its own folder, `provider/<platform>/sandbox/`.
"""
