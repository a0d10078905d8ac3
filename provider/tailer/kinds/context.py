"""`context`: named constants (and shared secrets) other configurations are deployed with (§1.5).

    [context.ctx_dev]
    account = "000099"
    environment = "DEV"
    configuration_id = "context_dev"      # deployed as "000099_context_dev" (the server adds the account)
    gcp_project_id = "my-project"
    doc_md = "docs/context.md"
    [context.ctx_dev.parameters.bucket]
    value = "my-bucket"; type = "string"; resource = "gcs_bucket"; description = "landing bucket"
    [context.ctx_dev.parameters.sa]       # a shared credential: a reference, sealed at each deploy
    value = { from_env = "SA_JSON" }; type = "object"; resource = "gcp_credentials_secret"; description = "..."

All four parameter keys are mandatory, as the documentation says; `parameters` is a table (the
documentation's "array" is, in practice, a map: §5.7). A parameter's `value` must match its
`type` (`boolean` is accepted: the documentation's example uses it). Names are letters, digits and
`_` (the SDK does not allow spaces inside the braces); `FD_*` and `TEMPLATE_CURRENT_DATE` are
reserved.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from platforge.core.kind import Context
from platforge.core.model import ObjectRef, RunStatus
from platforge.core.schema import Expect

from .common import RESERVED_PARAMETER, CommonSpec, FilePath, NonEmpty, TailerKind, Text

ParameterName = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Za-z0-9_]+$"),
                          Expect("a parameter name of letters, digits and '_'")]


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any
    type: Literal["integer", "string", "float", "object", "boolean"]
    resource: Literal["value", "gcp_project_id", "gcs_bucket", "gcp_credentials_secret"]
    description: Text

    @model_validator(mode="after")
    def _value_matches_type(self) -> Parameter:
        if self.resource == "gcp_credentials_secret":
            return self  # a secret reference or a sealed value, checked as a secret
        value = self.value
        ok = {"integer": isinstance(value, int) and not isinstance(value, bool),
              "string": isinstance(value, str),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "boolean": isinstance(value, bool),
              "object": isinstance(value, (dict, list))}[self.type]
        if not ok:
            raise ValueError(f"value must be of type {self.type}")
        return self


class ContextSpec(CommonSpec):
    configuration_type_value = "context"

    gcp_project_id: NonEmpty
    doc_md: FilePath = Field(json_schema_extra={"expected": "a Markdown file, relative to the stack file"})
    parameters: dict[ParameterName, Parameter]

    @model_validator(mode="after")
    def _own_rules(self) -> ContextSpec:
        if self.context is not None:
            raise ValueError("a context cannot itself be deployed with a context")
        reserved = sorted(n for n in self.parameters if RESERVED_PARAMETER.match(n))
        if reserved:
            raise ValueError(f"parameter names FD_* and TEMPLATE_CURRENT_DATE are reserved: {', '.join(reserved)}")
        return self


class ContextKind(TailerKind):
    name = "context"
    configuration_type = "context"
    spec_model = ContextSpec
    has_project = True

    def probe(self, ctx: Context, ref: ObjectRef) -> RunStatus | None:
        """A context is a set of constants other configurations are deployed with: nothing runs
        it, so there is no last run to show (drift says only that it cannot be checked)."""
        return None

    def deployed_id(self, spec: Any) -> str:
        """The server adds the account as a prefix (§1.2), unless the id already has it."""
        account, configuration_id = str(spec["account"]), str(spec["configuration_id"])
        return configuration_id if configuration_id.startswith(account + "_") else f"{account}_{configuration_id}"
