"""The router in front of the emulator for the local stack.

The emulator's Step Functions interpreter invokes Lambda on the emulator's own port (MOTO_PORT).
This router listens there: the Lambda Invoke API goes to `cargo lambda watch`, which runs our real
function binaries; everything else goes to the emulator. Function errors come back the way Lambda
returns them: HTTP 200 with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage}`.

    python scripts/lambda_router.py <listen-port> <emulator-url> <cargo-lambda-url>
"""
import http.server
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

LISTEN, EMULATOR, FUNCTIONS = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3].rstrip("/")
INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations")
HOP_BY_HOP = {"transfer-encoding", "connection", "content-length", "keep-alive"}


def forward(url, method, headers, body):
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=900)
    except urllib.error.HTTPError as error:
        response = error
    return response.status, dict(response.headers.items()), response.read()


class Router(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        invoke = INVOKE.match(self.path)
        if invoke:
            # The interpreter names functions by ARN; cargo lambda serves them by binary name.
            name = urllib.parse.unquote(invoke.group(1)).split(":")[-1]
            status, out_headers, data = forward(f"{FUNCTIONS}/2015-03-31/functions/{name}/invocations", "POST", {"content-type": "application/json"}, body or b"{}")
            error = None
            if status != 200:
                try:
                    error = json.loads(data)
                except ValueError:
                    error = {"errorType": "Unhandled", "errorMessage": data.decode(errors="replace")}
                if "errorType" not in error:
                    error = {"errorType": "Unhandled", "errorMessage": json.dumps(error)}
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-amz-executed-version", "$LATEST")
            if error is not None:
                self.send_header("x-amz-function-error", "Unhandled")
                data = json.dumps(error).encode()
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        status, out_headers, data = forward(EMULATOR + self.path, self.command, headers, body)
        self.send_response(status)
        for key, value in out_headers.items():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Router).serve_forever()
