"""`vm-launcher` (version "2"): runs scripts on a GCE VM, optionally on a schedule. Credentials
are files (`[vm_launcher.x.credentials."sa.json"] content = { from_env = ... }`), sealed at each
deploy, or a `gcp_credentials_secret`; at least one is required (§1.6)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from platforge.core.schema import StrictBool

from .common import CommonSpec, NonEmpty, Secret, Spec, TailerKind, Text


class CredentialFile(Spec):
    content: Secret


class VmLauncherSpec(CommonSpec):
    configuration_type_value = "vm-launcher"

    version: Literal["2"] | None = None
    gcp_project_id: NonEmpty
    gcs_bucket: NonEmpty
    gcs_working_directory: Text
    script_to_execute: list[NonEmpty] = Field(min_length=1)
    credentials: dict[str, CredentialFile] | None = None
    gcp_credentials_secret: Secret | None = None
    start_date: Text | None = None
    schedule_interval: Text | None = None
    vm_delete: StrictBool | None = None
    vm_core_number: Text | None = None
    vm_memory_amount: Text | None = None
    vm_disk_size: Text | None = None
    vm_compute_zone: Text | None = None
    vm_custom_os_image_family: Text | None = None
    vm_custom_os_image_project: Text | None = None

    @model_validator(mode="after")
    def _credentials(self) -> VmLauncherSpec:
        if not self.credentials and self.gcp_credentials_secret is None:
            raise ValueError("credentials (a file's content) or gcp_credentials_secret is mandatory")
        return self


class VmLauncherKind(TailerKind):
    name = "vm_launcher"
    configuration_type = "vm-launcher"
    spec_model = VmLauncherSpec
    has_project = True
