"""platforge: infrastructure as code for data platforms.

The package is laid out by architecture: `platforge.core` (the platform-blind reconcile core),
`platforge.provider` (one subpackage per platform: its httpx client and kinds),
`platforge.resources` (the Pulumi front door), `platforge.cli` (the `platforge` command) and
`platforge.sandbox` (local servers that implement each platform's API contract).
"""

__version__ = "0.1.0"
