"""Platform providers, installed as `platforge.provider`.

A platform is an httpx client plus its kinds of object. `transport` holds what every platform's
client shares (typed errors, retries, rate limiting, paging); each subpackage knows one wire.
"""
