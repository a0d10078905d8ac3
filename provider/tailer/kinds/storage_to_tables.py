"""`storage-to-tables` (STT, version "2"): GCS files loaded into BigQuery, triggered by a Cloud
Function the deploy sets up (`deploy_cf`, default true). A table's `ddl_file` (with `ddl_mode`
absent or "file") is read, checked to be JSON and sent as `ddl_infos` (§2.3 #3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from platforge.core.schema import StrictBool, expects

from .common import CommonSpec, FilePath, NonEmpty, Secret, Spec, TailerKind, Text


class Table(Spec):
    table_name: NonEmpty
    filename_template: NonEmpty
    ddl_mode: Literal["file", "header", "file_template"] | None = None
    ddl_file: FilePath | None = None
    ddl_file_template: Text | None = None
    doc_md: FilePath | None = None

    @model_validator(mode="after")
    def _ddl(self) -> Table:
        if (self.ddl_mode or "file") == "file" and self.ddl_file is None:
            raise ValueError("ddl_file is mandatory when ddl_mode is \"file\" (or absent)")
        if self.ddl_mode == "file_template" and self.ddl_file_template is None:
            raise ValueError("ddl_file_template is mandatory when ddl_mode is \"file_template\"")
        return self


class BigQueryDestination(Spec):
    type: Literal["bigquery"]
    tables: list[Table] = Field(min_length=1)


class GcsSource(Spec):
    type: Literal["gcs"]
    gcp_project_id: NonEmpty
    gcs_source_bucket: NonEmpty
    gcs_source_prefix: Text
    gcp_credentials_secret: Secret


class StorageToTablesSpec(CommonSpec):
    configuration_type_value = "storage-to-tables"

    version: Literal["2"]
    source: GcsSource
    destinations: list[BigQueryDestination] = Field(min_length=1)
    gcs_archive_prefix: Text | None = None
    deploy_cf: StrictBool = True
    #: No `gcp_project_id` at the top of this type to default to: declared, or `[platform] project_profile`.
    project_profile: NonEmpty = Field(json_schema_extra=expects(
        "the GCP project to deploy to (D8's project_profile), here or as [platform] project_profile"))


class StorageToTablesKind(TailerKind):
    name = "storage_to_tables"
    configuration_type = "storage-to-tables"
    spec_model = StorageToTablesSpec
    has_cloud_function = True
