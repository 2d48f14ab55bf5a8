"""The local stand-in for API Gateway's HTTP API with AWS_IAM authorization (the template's
ControlApi), served by the router under /_api/<function>/ (scripts/lambda_router.py).

As API Gateway does, it authenticates the request's SigV4 signature (service `execute-api`) and
refuses with 403 what it cannot: no or a malformed Authorization header, a key the emulator did
not issue (the emulator tells who a key belongs to and its secret: GET /_rollgate/principal in
scripts/moto_server.py), a session token that is not the key's, a date more than 5 minutes off,
a signature that does not match. It then invokes the function with the HTTP API's payload format
2.0 event, the caller's identity in `requestContext.authorizer.iam` (userArn, accountId, …), and
answers with the function's response; a function that fails is a 500, as API Gateway answers.
"""
import datetime
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import uuid

AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/\s]+)/(\d{8})/([^/\s]+)/([^/\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$"
)
MAX_SKEW = datetime.timedelta(minutes=5)

# The routes of each function's API (as the template declares them), all with AWS_IAM.
ROUTES = {"release-control": [("POST", "/releases/{release}/{action}")]}


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    encode = lambda text: urllib.parse.quote(text, safe="-_.~")  # noqa: E731
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(pairs))


def authenticate(method, path, query, headers, body, lookup, now=None):
    """The caller (the emulator's principal record) of a signed request, or Refused."""
    authorization = headers.get("authorization")
    if not authorization:
        raise Refused(403, "Missing Authentication Token")
    parsed = AUTHORIZATION.match(authorization.strip())
    if not parsed:
        raise Refused(403, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256).")
    access_key, day, region, service, signed, signature = parsed.groups()
    if service != "execute-api":
        raise Refused(403, f"Credential should be scoped to correct service: 'execute-api', not '{service}'.")
    amz_date = headers.get("x-amz-date") or ""
    try:
        stamp = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Refused(403, "Request must contain a valid X-Amz-Date header.") from None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - stamp) > MAX_SKEW or amz_date[:8] != day:
        raise Refused(403, "Signature expired: the request's date is more than 5 minutes from now.")
    signed_names = signed.split(";")
    if "host" not in signed_names:
        raise Refused(403, "The host header must be signed.")
    principal = lookup(access_key)
    if principal is None:
        raise Refused(403, "The security token included in the request is invalid.")
    if principal.get("session_token") and headers.get("x-amz-security-token") != principal["session_token"]:
        raise Refused(403, "The security token included in the request is invalid.")
    # Every path segment encoded once more (SigV4 for services other than S3).
    canonical_uri = "/".join(urllib.parse.quote(segment, safe="-_.~") for segment in path.split("/")) or "/"
    try:
        canonical_headers = "".join(f"{name}:{' '.join(headers[name].strip().split())}\n" for name in signed_names)
    except KeyError as missing:
        raise Refused(403, f"The signed header {missing} is not in the request.") from None
    payload = hashlib.sha256(body or b"").hexdigest()
    canonical = "\n".join([method, canonical_uri, _canonical_query(query), canonical_headers, signed, payload])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + principal["secret"]).encode(), day), region), service), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Refused(403, "The request signature we calculated does not match the signature you provided.")
    return dict(principal, access_key=access_key)


def route(function, method, path):
    """The route key and path parameters of `path` in `function`'s API, or Refused(404)."""
    for route_method, pattern in ROUTES.get(function, []):
        names = re.findall(r"\{(\w+)\}", pattern)
        regex = "^" + re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(pattern)) + "$"
        found = re.match(regex, path)
        if found and method == route_method:
            values = [urllib.parse.unquote(v) for v in found.groups()]
            return f"{route_method} {pattern}", dict(zip(names, values))
    raise Refused(404, "Not Found")


def event(function, method, path, query, headers, body, caller):
    """The HTTP API payload format 2.0 event, with the IAM caller API Gateway authenticated."""
    route_key, parameters = route(function, method, path)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": caller["account_id"],
            "apiId": "local",
            "authorizer": {
                "iam": {
                    "accessKey": caller["access_key"],
                    "accountId": caller["account_id"],
                    "callerId": caller["user_id"],
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": caller["arn"],
                    "userId": caller["user_id"],
                }
            },
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": parameters,
        "body": (body or b"").decode("utf-8", errors="replace"),
        "isBase64Encoded": False,
    }


def answer_of(status, data):
    """The HTTP answer of a function's invocation (status, headers, body), as API Gateway gives it."""
    try:
        response = json.loads(data) if status == 200 else None
    except ValueError:
        response = None
    if not isinstance(response, dict) or "statusCode" not in response:
        return 500, {"content-type": "application/json"}, json.dumps({"message": "Internal Server Error"}).encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    body = response.get("body") or ""
    return int(response["statusCode"]), headers, body.encode() if isinstance(body, str) else json.dumps(body).encode()
