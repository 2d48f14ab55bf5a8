"""The router in front of the emulator for the local stack, with a fault injector.

The emulator's Step Functions interpreter invokes Lambda on the emulator's own port (MOTO_PORT).
This router listens there: the Lambda Invoke API goes to `cargo lambda watch`, which runs our real
function binaries; everything else goes to the emulator. Function errors come back the way Lambda
returns them: HTTP 200 with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage}`.
The functions use the router as their AWS endpoint too (scripts/local-stack.sh), so their own
DynamoDB, SNS, CloudWatch and Lambda alias calls pass through it.

    python scripts/lambda_router.py <listen-port> <emulator-url> <cargo-lambda-url>

API Gateway: /_api/<function>/<route> is the function's HTTP API behind AWS_IAM authorization
(scripts/api_gateway.py: the SigV4 signature is verified, the caller goes into the event).

Faults, set and cleared over HTTP on the router:

    POST   /_faults          a rule, a list of rules or {"rules": [...]}; answers the rules with their ids
    GET    /_faults          every rule, with how many times it fired (`fired`) and what it hit (`hits`)
    DELETE /_faults          clears every rule
    DELETE /_faults/<id>     clears one rule

A rule (every field but `action` optional):

    {"service": "dynamodb",            dynamodb | sns | cloudwatch | lambda | secretsmanager | states | ...
     "operation": "PutItem",           DynamoDB: the X-Amz-Target's operation; SNS: Action=;
                                       CloudWatch: the operation of its RPC v2 CBOR path (or Action=);
                                       Lambda: Invoke, UpdateAlias, GetAlias, ...
     "function": "traffic-switch",     Invoke only: the function invoked
     "contains": ["rel-1", "EVT#"],    every string must occur in the request's path or body (form
                                       bodies decoded; CBOR bodies hold their strings as they read)
     "during": "traffic-switch",       only while an invoke of this function is in flight ...
     "during_contains": "rel-1",       ... whose payload contains this (e.g. the release id)
     "action": "throttle",             throttle | error | drop | delay | crash | timeout
     "times": 2,                       fires this many times, then clears (transient); absent: forever
     "delay_secs": 2.0,                wait this long first (delay, timeout; any action)
     "apply": true,                    crash/timeout of an invoke: run the function first, then fail
     "label": "free text"}

Actions: `throttle` answers the service's throttling error (DynamoDB
ProvisionedThroughputExceededException 400, Lambda TooManyRequestsException 429, Throttling 400
for the query services, in CBOR for CloudWatch's RPC v2 CBOR); `error` answers HTTP 500 (InternalServerError, ServiceException,
InternalFailure); `drop` forwards the request, then closes the connection without answering (the
lost response: the write happened, the caller does not know); `delay` waits `delay_secs` then
forwards as usual (past a client's timeout); `crash` answers an invoke as Lambda does when the
runtime exits (`Runtime.ExitError`), `timeout` as when the function times out (`Sandbox.Timedout`,
after `delay_secs`, default 3).

DynamoDB answers a retried TransactWriteItems with the same ClientRequestToken (the SDK sends one
per call and keeps it across its retries) with the first call's success without writing again; the
emulator does not, so the router does, and a lost answer to a transaction is what it is on AWS.
"""
import http.server
import itertools
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import api_gateway
import rpcv2_cbor

LISTEN, EMULATOR, FUNCTIONS = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3].rstrip("/")
INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations")
ALIAS = re.compile(r"^/2015-03-31/functions/[^/]+/aliases(/[^/?]+)?(\?.*)?$")
SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
HOP_BY_HOP = {"transfer-encoding", "connection", "content-length", "keep-alive"}
ACTIONS = {"throttle", "error", "drop", "delay", "crash", "timeout"}
INVOKE_ONLY = {"crash", "timeout"}
# Signing names that differ from the names rules use.
SERVICE_NAMES = {"monitoring": "cloudwatch", "states": "stepfunctions"}
MAX_HITS = 50


def forward(url, method, headers, body):
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=900)
    except urllib.error.HTTPError as error:
        response = error
    return response.status, dict(response.headers.items()), response.read()


def principal(access_key):
    """Who the emulator issued `access_key` to, with its secret; None for a key it did not issue."""
    query = urllib.parse.urlencode({"access_key": access_key})
    status, _, data = forward(f"{EMULATOR}/_rollgate/principal?{query}", "GET", {}, None)
    return json.loads(data) if status == 200 else None


class Call:
    """What a request is: service, operation, the function an invoke names, its text."""

    def __init__(self, method, path, headers, body):
        self.method, self.path = method, path
        text = (body or b"").decode("utf-8", errors="replace")
        if "x-www-form-urlencoded" in (headers.get("content-type") or ""):
            # Query-protocol parameters (SNS, CloudWatch) are matched as they read, not encoded.
            text += "\n" + urllib.parse.unquote_plus(text)
        self.text = urllib.parse.unquote(path) + "\n" + text
        self.function = None
        self.protocol = "rest-json"
        target = headers.get("x-amz-target")
        scope = SCOPE.search(headers.get("authorization") or "")
        service = scope.group(1) if scope else ""
        invoke = INVOKE.match(path)
        rpc = rpcv2_cbor.operation_of(path) if headers.get("smithy-protocol") == "rpc-v2-cbor" else None
        if rpc:
            operation = rpc[1]
            self.protocol = "rpc-v2-cbor"
        elif invoke:
            # The interpreter names functions by ARN; cargo lambda serves them by binary name.
            self.function = urllib.parse.unquote(invoke.group(1)).split(":")[-1]
            service, operation = "lambda", "Invoke"
        elif target:
            prefix, _, operation = target.partition(".")
            if prefix.startswith("DynamoDB"):
                service = "dynamodb"
            self.protocol = "json-1.0" if service == "dynamodb" else "json-1.1"
        elif "x-www-form-urlencoded" in (headers.get("content-type") or ""):
            form = urllib.parse.parse_qs((body or b"").decode("utf-8", errors="replace"))
            operation = (form.get("Action") or [""])[0]
            self.protocol = "query"
        elif ALIAS.match(path):
            named = ALIAS.match(path).group(1)
            operation = {
                ("GET", True): "GetAlias",
                ("PUT", True): "UpdateAlias",
                ("DELETE", True): "DeleteAlias",
                ("POST", False): "CreateAlias",
                ("GET", False): "ListAliases",
            }.get((method, bool(named)), f"{method} {path}")
            service = service or "lambda"
        else:
            operation = f"{method} {path}"
        self.service = SERVICE_NAMES.get(service, service)
        self.operation = operation


class Faults:
    """The rules, their counts, and the invokes in flight (for `during`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.ids = itertools.count(1)
        self.in_flight = {}
        self.flights = itertools.count(1)
        # ClientRequestToken -> the answer to the first TransactWriteItems that carried it.
        self.transactions = {}

    def add(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("a rule is a JSON object")
        action = spec.get("action")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}, not {action!r}")
        contains = spec.get("contains") or []
        if isinstance(contains, str):
            contains = [contains]
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer (absent: forever)")
        rule = {
            "service": (spec.get("service") or "").lower() or None,
            "operation": spec.get("operation"),
            "function": spec.get("function"),
            "contains": [str(c) for c in contains],
            "during": spec.get("during"),
            "during_contains": spec.get("during_contains"),
            "action": action,
            "times": times,
            "delay_secs": float(spec.get("delay_secs", 3.0 if action == "timeout" else 0.0)),
            "apply": bool(spec.get("apply", False)),
            "label": spec.get("label"),
            "fired": 0,
            "hits": [],
        }
        if action in INVOKE_ONLY and rule["service"] not in (None, "lambda"):
            raise ValueError(f"{action} is a fault of a function invoke (service lambda, operation Invoke)")
        with self.lock:
            rule["id"] = next(self.ids)
            self.rules.append(rule)
        return self.view(rule)

    def view(self, rule):
        shown = dict(rule)
        shown["active"] = rule["times"] is None or rule["fired"] < rule["times"]
        shown["hits"] = list(rule["hits"])
        return shown

    def listing(self):
        with self.lock:
            return [self.view(r) for r in self.rules]

    def clear(self, rule_id=None):
        with self.lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if rule_id is not None and r["id"] != rule_id]
            return before - len(self.rules)

    def take(self, call):
        """The first active rule that matches `call`, counted as fired; None when none does."""
        with self.lock:
            for rule in self.rules:
                if rule["times"] is not None and rule["fired"] >= rule["times"]:
                    continue
                if not self.matches(rule, call):
                    continue
                rule["fired"] += 1
                hit = {"at": time.time(), "service": call.service, "operation": call.operation}
                if call.function:
                    hit["function"] = call.function
                rule["hits"] = (rule["hits"] + [hit])[-MAX_HITS:]
                return dict(rule)
        return None

    def matches(self, rule, call):
        if rule["service"] and rule["service"] != call.service:
            return False
        if rule["operation"] and rule["operation"] != call.operation:
            return False
        if rule["function"] and rule["function"] != call.function:
            return False
        if rule["action"] in INVOKE_ONLY and call.function is None:
            return False
        if any(c not in call.text for c in rule["contains"]):
            return False
        if rule["during"]:
            wanted = rule["during_contains"]
            if not any(f == rule["during"] and (not wanted or wanted in text) for f, text in self.in_flight.values()):
                return False
        return True

    def flying(self, function, payload):
        with self.lock:
            key = next(self.flights)
            self.in_flight[key] = (function, payload.decode("utf-8", errors="replace"))
            return key

    def landed(self, key):
        with self.lock:
            self.in_flight.pop(key, None)


FAULTS = Faults()


def error_answer(call, kind):
    """(status, headers, body) of the service's throttling (`throttle`) or internal (`error`) error."""
    throttle = kind == "throttle"
    message = f"fault injected by the local stack's router ({kind})"
    if call.protocol.startswith("json"):
        if call.service == "dynamodb":
            code = "ProvisionedThroughputExceededException" if throttle else "InternalServerError"
            shape = f"com.amazonaws.dynamodb.v20120810#{code}"
        else:
            code = "ThrottlingException" if throttle else "InternalFailure"
            shape = code
        status = 400 if throttle else 500
        headers = {"content-type": f"application/x-amz-{call.protocol}", "x-amzn-errortype": code}
        return status, headers, json.dumps({"__type": shape, "message": message}).encode()
    if call.protocol == "rpc-v2-cbor":
        # CloudWatch keeps its Query error codes (awsQueryCompatible): the SDK reads this header.
        code = "Throttling" if throttle else "InternalFailure"
        kind_of = "Sender" if throttle else "Receiver"
        headers = {
            "content-type": rpcv2_cbor.CONTENT_TYPE,
            "smithy-protocol": "rpc-v2-cbor",
            "x-amzn-query-error": f"{code};{kind_of}",
        }
        return (400 if throttle else 500), headers, rpcv2_cbor.error_body(code, message)
    if call.protocol == "query":
        code = "Throttling" if throttle else ("InternalError" if call.service == "sns" else "InternalFailure")
        kind_of = "Sender" if throttle else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind_of}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>00000000-0000-0000-0000-00000000fa17</RequestId></ErrorResponse>"
        )
        return (400 if throttle else 500), {"content-type": "text/xml"}, body.encode()
    code = "TooManyRequestsException" if throttle else "ServiceException"
    body = {"Type": "User" if throttle else "Service", "message": message}
    if throttle:
        body["Reason"] = "CallerRateLimitExceeded"
    headers = {"content-type": "application/json", "x-amzn-errortype": code}
    return (429 if throttle else 500), headers, json.dumps(body).encode()


class Router(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        if self.path == "/_faults" or self.path.startswith("/_faults/"):
            return self.faults_api(body)
        if self.path.startswith("/_api/"):
            return self.api_gateway(body)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        call = Call(self.command, self.path, {k.lower(): v for k, v in headers.items()}, body)
        rule = FAULTS.take(call)
        action = rule["action"] if rule is not None else None
        if action not in (None, "timeout") and rule["delay_secs"] > 0:
            # A timeout waits after the function's work (if any), not before it.
            time.sleep(rule["delay_secs"])
        if action in ("throttle", "error"):
            return self.answer(*error_answer(call, action))
        if call.function is not None:
            return self.invoke(call, body, action, rule)
        cached = self.replayed_transaction(call, body)
        if cached is not None:
            status, out_headers, data = cached
        else:
            status, out_headers, data = forward(EMULATOR + self.path, self.command, headers, body)
            self.remember_transaction(call, body, status, out_headers, data)
        if action == "drop":
            return self.hang_up()
        self.answer(status, {k: v for k, v in out_headers.items() if k.lower() not in HOP_BY_HOP}, data)

    def invoke(self, call, body, action, rule):
        payload = body or b"{}"
        if action in (None, "drop", "delay") or (action in INVOKE_ONLY and rule["apply"]):
            key = FAULTS.flying(call.function, payload)
            try:
                url = f"{FUNCTIONS}/2015-03-31/functions/{call.function}/invocations"
                status, _, data = forward(url, "POST", {"content-type": "application/json"}, payload)
            finally:
                FAULTS.landed(key)
        if action == "drop":
            return self.hang_up()
        error = None
        if action == "crash":
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": "RequestId: fault Error: Runtime exited with error: signal: killed (fault injected by the router)",
            }
        elif action == "timeout":
            time.sleep(rule["delay_secs"])
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: fault Error: Task timed out after {rule['delay_secs']:.2f} seconds (fault injected by the router)",
            }
        elif status != 200:
            try:
                error = json.loads(data)
            except ValueError:
                error = {"errorType": "Unhandled", "errorMessage": data.decode(errors="replace")}
            if "errorType" not in error:
                error = {"errorType": "Unhandled", "errorMessage": json.dumps(error)}
        headers = {"content-type": "application/json", "x-amz-executed-version": "$LATEST"}
        if error is not None:
            headers["x-amz-function-error"] = "Unhandled"
            data = json.dumps(error).encode()
        self.answer(200, headers, data)

    def api_gateway(self, body):
        """/_api/<function>/<route>: the function's HTTP API, behind AWS_IAM (scripts/api_gateway.py)."""
        parts = urllib.parse.urlsplit(self.path)
        _, _, function, rest = (parts.path.split("/", 3) + ["", ""])[:4]
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            caller = api_gateway.authenticate(self.command, parts.path, parts.query, headers, body, principal)
            event = api_gateway.event(function, self.command, "/" + rest, parts.query, headers, body, caller)
        except api_gateway.Refused as refused:
            return self.json_answer(refused.status, {"message": refused.message})
        url = f"{FUNCTIONS}/2015-03-31/functions/{function}/invocations"
        status, _, data = forward(url, "POST", {"content-type": "application/json"}, json.dumps(event).encode())
        self.answer(*api_gateway.answer_of(status, data))

    def replayed_transaction(self, call, body):
        token = self.transaction_token(call, body)
        if token is None:
            return None
        with FAULTS.lock:
            return FAULTS.transactions.get(token)

    def remember_transaction(self, call, body, status, headers, data):
        token = self.transaction_token(call, body)
        if token is None or status != 200:
            return
        with FAULTS.lock:
            if len(FAULTS.transactions) > 10_000:
                FAULTS.transactions.clear()
            FAULTS.transactions[token] = (status, headers, data)

    @staticmethod
    def transaction_token(call, body):
        if call.service != "dynamodb" or call.operation != "TransactWriteItems" or not body:
            return None
        try:
            token = json.loads(body).get("ClientRequestToken")
        except ValueError:
            return None
        return token or None

    def faults_api(self, body):
        try:
            if self.command == "GET" and self.path == "/_faults":
                return self.json_answer(200, {"rules": FAULTS.listing()})
            if self.command == "POST" and self.path == "/_faults":
                spec = json.loads(body or b"null")
                specs = spec.get("rules") if isinstance(spec, dict) and "rules" in spec else spec
                specs = specs if isinstance(specs, list) else [specs]
                return self.json_answer(200, {"rules": [FAULTS.add(s) for s in specs]})
            if self.command == "DELETE" and self.path == "/_faults":
                return self.json_answer(200, {"cleared": FAULTS.clear()})
            if self.command == "DELETE":
                return self.json_answer(200, {"cleared": FAULTS.clear(int(self.path.rsplit("/", 1)[-1]))})
            return self.json_answer(405, {"error": "GET, POST or DELETE /_faults; DELETE /_faults/<id>"})
        except ValueError as error:
            return self.json_answer(400, {"error": str(error)})

    def json_answer(self, status, value):
        self.answer(status, {"content-type": "application/json"}, json.dumps(value).encode())

    def answer(self, status, headers, data):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def hang_up(self):
        """The lost response: the request was served, the caller gets no answer."""
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Router)
    server.daemon_threads = True
    server.serve_forever()
