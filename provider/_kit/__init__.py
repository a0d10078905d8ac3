"""The kits every platform folder builds on: `client` (the HTTP client side: typed errors, safe
retries, rate limit, paging, polling, multipart uploads, renewable sessions, a base client) and
`sandbox` (what every local sandbox server shares: fault injection, the access log, serving,
owner-only files). Kits import no platform."""
