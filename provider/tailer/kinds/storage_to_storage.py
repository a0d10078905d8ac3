"""`storage-to-storage` (STS): file copies between GCS, S3, Azure and SFTP, triggered by a
Cloud Function the deploy sets up (`deploy_cf`, default true). Required fields per §1.6; the
source and each destination are checked by their `type`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from platforge.core.schema import Expect, StrictBool, StrictInt, expects

from .common import CommonSpec, NonEmpty, Secret, Spec, TailerKind, Text

Port = StrictInt | Text


class FilenameTemplate(Spec):
    filename_template: NonEmpty
    file_description: Text | None = None


class _Sftp(Spec):
    sftp_host: NonEmpty
    sftp_port: Port
    sftp_userid: NonEmpty
    sftp_authentication_method: Literal["USERNAME_PASSWORD", "PRIVATE_KEY"] | None = None
    sftp_password_secret: Secret | None = None
    sftp_private_key_secret: Secret | None = None
    sftp_private_key_passphrase_secret: Secret | None = None

    @model_validator(mode="after")
    def _credential(self) -> _Sftp:
        if (self.sftp_authentication_method or "USERNAME_PASSWORD") == "PRIVATE_KEY":
            if self.sftp_private_key_secret is None:
                raise ValueError("sftp_private_key_secret is mandatory with sftp_authentication_method PRIVATE_KEY")
        elif self.sftp_password_secret is None:
            raise ValueError("sftp_password_secret is mandatory with sftp_authentication_method USERNAME_PASSWORD")
        return self


class GcsSource(Spec):
    type: Literal["gcs"]
    gcp_project_id: NonEmpty
    gcs_source_bucket: NonEmpty
    gcs_source_prefix: Text
    gcp_credentials_secret: Secret


class S3Source(Spec):
    type: Literal["s3"]
    s3_source_bucket: NonEmpty
    s3_source_prefix: Text
    aws_access_key: NonEmpty
    aws_access_key_secret: Secret


class AzureSource(Spec):
    type: Literal["azure"]
    azure_source_storage: NonEmpty
    azure_source_prefix: Text
    azure_connection_string_secret: Secret


class SftpSource(_Sftp):
    type: Literal["sftp"]
    sftp_source_directory: Text
    sftp_source_filename: NonEmpty


class GcsDestination(Spec):
    type: Literal["gcs"]
    gcs_destination_bucket: NonEmpty
    gcs_destination_prefix: Text
    gcp_credentials_secret: Secret


class S3Destination(Spec):
    type: Literal["s3"]
    s3_bucket: NonEmpty
    s3_destination_prefix: Text
    aws_access_key: NonEmpty
    aws_access_key_secret: Secret


class AzureDestination(Spec):
    type: Literal["azure"]
    azure_destination_prefix: Text
    azure_connection_string_secret: Secret


class SftpDestination(_Sftp):
    type: Literal["sftp"]
    sftp_destination_dir: Text
    sftp_destination_dir_create: StrictBool


Source = Annotated[GcsSource | S3Source | AzureSource | SftpSource, Field(discriminator="type"),
                   Expect("a source: type gcs, s3, azure or sftp, with the fields Tailer requires for that type")]
Destination = Annotated[GcsDestination | S3Destination | AzureDestination | SftpDestination,
                        Field(discriminator="type"),
                        Expect("a destination: type gcs, s3, azure or sftp, with the fields Tailer requires for that type")]


class StorageToStorageSpec(CommonSpec):
    configuration_type_value = "storage-to-storage"

    filename_templates: list[FilenameTemplate] = Field(min_length=1)
    source: Source
    destinations: list[Destination] = Field(min_length=1)
    archive_prefix: Text | None = None
    empty_file_policy: Literal["NONE", "PROCESS", "TRIGGER_FAILED_STATUS", "TRIGGER_SUCCESS_STATUS"] | None = None
    generate_top_file: Literal["REPLACE_EXTENSION", "ADD_EXTENSION"] | None = None
    deploy_cf: StrictBool = True
    #: No `gcp_project_id` at the top of this type to default to: declared, or `[platform] project_profile`.
    project_profile: NonEmpty = Field(json_schema_extra=expects(
        "the GCP project to deploy to (D8's project_profile), here or as [platform] project_profile"))


class StorageToStorageKind(TailerKind):
    name = "storage_to_storage"
    configuration_type = "storage-to-storage"
    spec_model = StorageToStorageSpec
    has_cloud_function = True
