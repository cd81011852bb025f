from tests.annotation.exporters.conftest import import_native  # noqa: F401
