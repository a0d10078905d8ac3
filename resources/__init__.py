"""The Pulumi front door: dynamic resources over the same core as the CLI (installed as
`platforge.resources`)."""
