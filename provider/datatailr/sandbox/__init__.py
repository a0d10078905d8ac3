"""The Datatailr sandbox: the platform's HTTP API (the remote API as the datatailr 0.2.3 SDK speaks
it) over SQLite. `app.create_app(SandboxConfig(...))` builds it; `DECISIONS.md` records every
choice made where the contract is open, and its "Security" section the sandbox's safety measures."""
