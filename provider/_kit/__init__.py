"""The kits every platform folder builds on: `transport` (the HTTP client side: typed errors,
safe retries, rate limit, paging) and `sandbox` (what every local sandbox server shares: fault
injection, the access log, serving, owner-only files). Kits import no platform."""
