"""The callbacks and their error codes are in the OpenAPI schema."""

import pytest
from django.test import Client

from wallet.igpx.protocol import ERROR_CODES


@pytest.mark.django_db
def test_openapi_documents_both_callbacks_and_every_error_code():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    for path in ("/api/igpx/transaction", "/api/igpx/transaction-rollback"):
        operation = schema["paths"][path]["post"]
        assert [p["name"] for p in operation["parameters"]] == ["X-Security-Hash"]
        for code in ERROR_CODES:
            assert f"`{code}`" in operation["description"]
    error = components["IgpxCallbackResponse"]["properties"]["error"]
    assert error["nullable"] is True
    enums = [components[ref["$ref"].rsplit("/", 1)[1]].get("enum", []) for ref in error["oneOf"]]
    assert any(set(values) == set(ERROR_CODES) for values in enums)
