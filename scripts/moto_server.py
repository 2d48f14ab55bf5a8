"""The emulator (moto_server), made to keep two promises of AWS that rollgate relies on.

DynamoDB: moto applies a transaction to a snapshot of the table and, when the transaction is
cancelled, restores that snapshot: under concurrent requests this throws away what other writers
stored meanwhile. DynamoDB itself applies a transaction atomically. Handling one DynamoDB request
at a time gives the emulator the same guarantee (the other services stay concurrent).

Lambda: an alias's RevisionId changes with every update, and UpdateAlias with a RevisionId that
is no longer the alias's fails with PreconditionFailedException (412), as Lambda documents; moto
keeps the first RevisionId forever and ignores the parameter. rollgate fences its router writes
with it.

CloudWatch: current AWS SDKs call it in Smithy RPC v2 CBOR, which the emulator does not speak; it
speaks AWS JSON 1.0, which CloudWatch also accepts. A CBOR call is handed to it as the same call in
JSON, and its answer (or error) goes back in CBOR, encoded as the service model's output says
(scripts/rpcv2_cbor.py).

IAM callers: `GET /_rollgate/principal?access_key=AKIA…` answers who an access key belongs to, as
moto's IAM and STS know it (an IAM user's key, or an assumed role's session), with its secret: the
local stand-in for API Gateway's AWS_IAM authorization (scripts/lambda_router.py) verifies SigV4
signatures with it. Keys moto did not issue are 404: they sign nothing.

    python scripts/moto_server.py -H 127.0.0.1 -p 5055
"""
import gzip
import io
import json
import threading
import uuid
from urllib.parse import unquote

import rpcv2_cbor

from moto.awslambda.exceptions import PreconditionFailedException
from moto.awslambda.models import LambdaAlias
from moto.awslambda.responses import LambdaResponse
from moto.dynamodb.responses import DynamoHandler
from moto.core.utils import get_service_model
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main

_DYNAMODB = threading.RLock()
_call_action = DynamoHandler.call_action


def _serialized(self):
    with _DYNAMODB:
        return _call_action(self)


DynamoHandler.call_action = _serialized

_ALIASES = threading.Lock()
_update = LambdaAlias.update
_update_alias = LambdaResponse.update_alias


def _update_with_new_revision(self, *args, **kwargs):
    _update(self, *args, **kwargs)
    self.revision_id = str(uuid.uuid4())


def _update_alias_if_revision(self):
    expected = json.loads(self.body or "{}").get("RevisionId")
    with _ALIASES:  # the check and the update as one step
        if expected is not None:
            function_name = unquote(self.path.rsplit("/")[-3])
            alias_name = unquote(self.path.rsplit("/", 2)[-1])
            alias = self.backend.get_alias(alias_name, function_name)
            if alias.revision_id != expected:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id"
                )
        return _update_alias(self)


LambdaAlias.update = _update_with_new_revision
LambdaResponse.update_alias = _update_alias_if_revision

_CBOR_SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}
_dispatch = DomainDispatcherApplication.__call__


def _principal(environ, start_response):
    from urllib.parse import parse_qs

    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    key = (parse_qs(environ.get("QUERY_STRING", "")).get("access_key") or [""])[0]
    found = None
    for account_id in list(sts_backends):
        for partition in list(sts_backends[account_id]):
            role = sts_backends[account_id][partition].get_assumed_role_from_access_key(key)
            if role:
                found = {"arn": role.arn, "user_id": role.user_id, "account_id": role.account_id,
                         "secret": role.secret_access_key, "session_token": role.session_token}
    for account_id in list(iam_backends):
        for partition in list(iam_backends[account_id]):
            backend = iam_backends[account_id][partition]
            user = backend.get_user_from_access_key_id(key)
            if user and not found:
                secret = next(k.secret_access_key for k in backend.list_access_keys(user.name) if k.access_key_id == key)
                found = {"arn": user.arn, "user_id": user.id, "account_id": user.account_id, "secret": secret, "session_token": None}
    status, body = ("200 OK", found) if found else ("404 Not Found", {"error": f"no IAM user or role session has the access key {key!r}"})
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _cbor_as_json(self, environ, start_response):
    if environ.get("PATH_INFO") == "/_rollgate/principal":
        return _principal(environ, start_response)
    rpc = rpcv2_cbor.operation_of(environ.get("PATH_INFO", ""))
    if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor" or not rpc or rpc[0] not in _CBOR_SERVICES:
        return _dispatch(self, environ, start_response)
    target, operation = rpc
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    if environ.get("HTTP_CONTENT_ENCODING") == "gzip":  # PutMetricData compresses large bodies
        body = gzip.decompress(body)
        del environ["HTTP_CONTENT_ENCODING"]
    try:
        request = rpcv2_cbor.to_json_ready(rpcv2_cbor.decode(body))
    except (rpcv2_cbor.CborError, UnicodeDecodeError) as error:
        answer = rpcv2_cbor.error_body("SerializationException", f"the CBOR body cannot be read: {error}")
        return _answer_cbor(start_response, "400 Bad Request", [("x-amzn-query-error", "SerializationException;Sender")], answer)
    data = json.dumps(request).encode()
    environ.update(
        {
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_X_AMZ_TARGET": f"{target}.{operation}",
            "wsgi.input": io.BytesIO(data),
        }
    )
    environ.pop("HTTP_SMITHY_PROTOCOL", None)
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda _: None

    chunks = _dispatch(self, environ, capture)
    try:
        answer = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    status = captured["status"]
    keep = [(k, v) for k, v in captured["headers"] if k.lower() in ("x-amzn-requestid", "x-amzn-query-error")]
    document = json.loads(answer or b"{}")
    if status.startswith("2"):
        shape = get_service_model(_CBOR_SERVICES[target]).operation_model(operation).output_shape
        return _answer_cbor(start_response, status, keep, rpcv2_cbor.encode(document, shape))
    code = document.get("__type", "InternalFailure").rsplit("#", 1)[-1]
    message = document.get("message") or document.get("Message") or ""
    return _answer_cbor(start_response, status, keep, rpcv2_cbor.error_body(code, message))


def _answer_cbor(start_response, status, headers, body):
    start_response(
        status,
        headers
        + [("Content-Type", rpcv2_cbor.CONTENT_TYPE), ("smithy-protocol", "rpc-v2-cbor"), ("Content-Length", str(len(body)))],
    )
    return [body]


DomainDispatcherApplication.__call__ = _cbor_as_json

if __name__ == "__main__":
    main()
