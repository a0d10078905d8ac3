"""The Datatailr sandbox: the platform's HTTP API (contract: shared/contracts/datatailr_api.md)
over SQLite. `app.create_app(SandboxConfig(...))` builds it; `DECISIONS.md` records every choice
made where the contract is open."""
