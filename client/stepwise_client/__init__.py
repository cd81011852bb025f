"""Python client of the Stepwise annotation platform's REST API (`Client`) and the
`stepwise` command line."""

__version__ = "0.1.0"

from stepwise_client.client import Client  # noqa: E402
from stepwise_client.errors import (  # noqa: E402
    ApiError,
    AuthenticationError,
    ConfigError,
    Conflict,
    ConnectionFailed,
    ExportFailed,
    ImportFailed,
    JobFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    StepwiseError,
    ValidationError,
    WaitTimeout,
)
from stepwise_client.exports import Export, ExportFile  # noqa: E402
from stepwise_client.models import (  # noqa: E402
    Agreement,
    Dataset,
    FieldAgreement,
    ImportRun,
    Item,
    LabelingJob,
    Project,
    ServerInfo,
)

__all__ = [
    "Agreement", "ApiError", "AuthenticationError", "Client", "ConfigError", "Conflict",
    "ConnectionFailed", "Dataset", "Export", "ExportFailed", "ExportFile", "FieldAgreement",
    "ImportFailed", "ImportRun", "Item", "JobFailed", "LabelingJob", "NotFound",
    "PermissionDenied", "Project", "RateLimited", "ServerError", "ServerInfo", "StepwiseError",
    "ValidationError", "WaitTimeout", "__version__",
]  # fmt: skip
