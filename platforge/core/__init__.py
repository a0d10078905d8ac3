"""The reconcile core: declared state vs live state, plan, idempotent apply, drift.

It knows nothing about any platform; platforms plug in through `platforge.provider`.
"""
