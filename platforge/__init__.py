"""platforge: infrastructure as code for data platforms.

The package is laid out by architecture: `platforge.core` (the platform-blind reconcile core),
`platforge.provider` (the shared kits, and one folder per platform: its httpx client, its kinds
and its sandbox), `platforge.pulumi` (the Pulumi front door), `platforge.cli` (the `platforge`
command) and `platforge.report` (plans and drift reports as text, Markdown and HTML).
"""

__version__ = "0.1.0"
