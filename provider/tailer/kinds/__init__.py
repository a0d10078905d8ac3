"""Tailer's kinds: one per supported configuration type (contract §4), in dependency order (a
context comes before the configurations deployed with it)."""

from .common import TailerKind
from .context import ContextKind
from .storage_to_storage import StorageToStorageKind
from .storage_to_tables import StorageToTablesKind
from .table_to_storage import TableToStorageKind
from .vm_launcher import VmLauncherKind
from .workflow import WorkflowKind

KINDS: tuple[type[TailerKind], ...] = (ContextKind, StorageToStorageKind, StorageToTablesKind, TableToStorageKind,
                                       VmLauncherKind, WorkflowKind)

__all__ = ["KINDS", "ContextKind", "StorageToStorageKind", "StorageToTablesKind", "TableToStorageKind",
           "TailerKind", "VmLauncherKind", "WorkflowKind"]
