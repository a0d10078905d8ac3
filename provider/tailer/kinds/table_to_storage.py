"""`table-to-storage` (TTS, version "3"): BigQuery exports to GCS. Each task's `sql_file` (and a
global `sql_file`) is read and sent as base64 in `sql` (§2.3 #4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from platforge.core.schema import StrictBool

from .common import CommonSpec, FilePath, NonEmpty, Spec, TailerKind, Text


class Task(Spec):
    task_id: NonEmpty
    sql_file: FilePath
    output_filename: NonEmpty


class TableToStorageSpec(CommonSpec):
    configuration_type_value = "table-to-storage"

    version: Literal["3"]
    gcs_dest_bucket: NonEmpty
    gcs_dest_prefix: Text
    gcp_project_id: NonEmpty
    tasks: list[Task] = Field(min_length=1)
    sql_file: FilePath | None = None
    start_date: Text | None = None
    schedule_interval: Text | None = None
    print_header: StrictBool | None = None
    destination_format: Literal["CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "PARQUET"] | None = None
    field_delimiter: Text | None = None
    compression: Text | None = None
    bq_data_location: Text | None = None
    generate_top_file: Text | None = None
    delete_dest_bucket_content: StrictBool | None = None
    sql_query_template: Text | None = None


class TableToStorageKind(TailerKind):
    name = "table_to_storage"
    configuration_type = "table-to-storage"
    spec_model = TableToStorageSpec
    has_project = True
