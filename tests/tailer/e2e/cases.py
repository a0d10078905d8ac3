"""One stack body per kind, for the tests that run every kind through the same promises. Each
uses `T_SECRET` (a per-run generated value) wherever the kind holds a secret."""

from __future__ import annotations

from dataclasses import dataclass, field

SECRET_ENV = "T_SECRET"


@dataclass(frozen=True)
class Case:
    table: str
    name: str
    configuration_type: str
    deployed_id: str
    body: str
    files: dict[str, str] = field(default_factory=dict)
    has_secret: bool = True

    @property
    def address(self) -> str:
        return f"{self.table}.{self.name}"


CASES = {
    "context": Case("context", "ctx", "context", "000099_ctx", '''
        [context.ctx]
        account = "000099"
        environment = "DEV"
        gcp_project_id = "sandbox-project"
        doc_md = "docs/ctx.md"
        [context.ctx.parameters.bucket]
        value = "landing"
        type = "string"
        resource = "gcs_bucket"
        description = "the landing bucket"
        [context.ctx.parameters.sa]
        value = { from_env = "T_SECRET" }
        type = "object"
        resource = "gcp_credentials_secret"
        description = "shared credentials"
        ''', {"docs/ctx.md": "# Context\nShared values.\n"}),
    "storage_to_storage": Case("storage_to_storage", "sts", "storage-to-storage", "sts", '''
        [storage_to_storage.sts]
        account = "000099"
        environment = "DEV"
        version = "2"
        filename_templates = [{ filename_template = "stores-{{FD_DATE}}.csv", file_description = "stores" }]
        source = { type = "gcs", gcp_project_id = "sandbox-project", gcs_source_bucket = "in-bucket", gcs_source_prefix = "in", gcp_credentials_secret = { from_env = "T_SECRET" } }
        destinations = [{ type = "gcs", gcs_destination_bucket = "out-bucket", gcs_destination_prefix = "out", gcp_credentials_secret = { from_env = "T_SECRET" } }]
        '''),
    "storage_to_tables": Case("storage_to_tables", "stt", "storage-to-tables", "stt", '''
        [storage_to_tables.stt]
        account = "000099"
        environment = "DEV"
        version = "2"
        doc_md = "stt.md"
        source = { type = "gcs", gcp_project_id = "sandbox-project", gcs_source_bucket = "in-bucket", gcs_source_prefix = "in", gcp_credentials_secret = { from_env = "T_SECRET" } }
        [[storage_to_tables.stt.destinations]]
        type = "bigquery"
        gcp_project_id = "sandbox-project"
        gbq_dataset = "sales"
        [[storage_to_tables.stt.destinations.tables]]
        table_name = "sales"
        filename_template = "sales_{{FD_DATE}}.csv"
        ddl_file = "ddl/sales.json"
        ''', {"stt.md": "# Loads\n", "ddl/sales.json": '{"bq_table_description": "sales", "bq_table_schema": []}\n'}),
    "table_to_storage": Case("table_to_storage", "tts", "table-to-storage", "tts", '''
        [table_to_storage.tts]
        account = "000099"
        environment = "DEV"
        version = "3"
        gcp_project_id = "sandbox-project"
        gcs_dest_bucket = "exports"
        gcs_dest_prefix = "daily"
        tasks = [{ task_id = "export_sales", sql_file = "sql/export.sql", output_filename = "sales.csv" }]
        ''', {"sql/export.sql": "SELECT 1 AS x\n"}, has_secret=False),
    "workflow": Case("workflow", "wf", "workflow", "wf", '''
        [workflow.wf]
        account = "000099"
        environment = "DEV"
        version = "2"
        gcp_project_id = "sandbox-project"
        authorized_job_ids = ["storage-to-tables|000099|stt|DEV|sales_{{FD_DATE}}.csv"]
        target_dag = { configuration_type = "table-to-table", configuration_id = "000099_prepare_DEV" }
        ''', has_secret=False),
    "vm_launcher": Case("vm_launcher", "vm", "vm-launcher", "vm", '''
        [vm_launcher.vm]
        account = "000099"
        environment = "DEV"
        version = "2"
        gcp_project_id = "sandbox-project"
        gcs_bucket = "vm-bucket"
        gcs_working_directory = "work"
        script_to_execute = ["run.sh"]
        [vm_launcher.vm.credentials."sa.json"]
        content = { from_env = "T_SECRET" }
        '''),
}
