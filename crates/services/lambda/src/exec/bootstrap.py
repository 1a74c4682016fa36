# snapstack's Python runtime: imports the function's handler and serves invocations from the
# Lambda Runtime API (AWS_LAMBDA_RUNTIME_API), as AWS's own runtime interface client does.
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
_conn = None


def _request(method, path, body=None, headers=None):
    global _conn
    for attempt in range(2):
        if _conn is None:
            _conn = http.client.HTTPConnection(API, timeout=None)
        try:
            _conn.request(method, BASE + path, body=body, headers=headers or {})
            r = _conn.getresponse()
            return r, r.read()
        except (http.client.HTTPException, OSError):
            _conn = None
            if attempt:
                raise


def _error_body(e, request_id=None):
    body = {
        "errorMessage": str(e),
        "errorType": type(e).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(e.__traceback__)[1:]),
    }
    if request_id:
        body["requestId"] = request_id
    return body


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    handler = os.environ.get("_HANDLER", "")
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError:
        body = {"errorMessage": "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % handler,
                "errorType": "Runtime.MalformedHandlerName", "stackTrace": []}
        _request("POST", "/init/error", json.dumps(body), {"Lambda-Runtime-Function-Error-Type": body["errorType"]})
        sys.exit(1)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as e:
        body = {"errorMessage": "Unable to import module '%s': %s" % (module_name, e),
                "errorType": "Runtime.ImportModuleError", "stackTrace": []}
        print("[ERROR] Runtime.ImportModuleError: %s" % body["errorMessage"], file=sys.stderr, flush=True)
        _request("POST", "/init/error", json.dumps(body), {"Lambda-Runtime-Function-Error-Type": body["errorType"]})
        sys.exit(1)
    fn = getattr(module, function_name, None)
    if fn is None:
        body = {"errorMessage": "Handler '%s' missing on module '%s'" % (function_name, module_name),
                "errorType": "Runtime.HandlerNotFound", "stackTrace": []}
        print("[ERROR] Runtime.HandlerNotFound: %s" % body["errorMessage"], file=sys.stderr, flush=True)
        _request("POST", "/init/error", json.dumps(body), {"Lambda-Runtime-Function-Error-Type": body["errorType"]})
        sys.exit(1)
    while True:
        r, raw = _request("GET", "/invocation/next")
        request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
        deadline = int(r.getheader("Lambda-Runtime-Deadline-Ms") or 0)
        arn = r.getheader("Lambda-Runtime-Invoked-Function-Arn")
        os.environ["_X_AMZN_TRACE_ID"] = r.getheader("Lambda-Runtime-Trace-Id") or ""
        ctx = LambdaContext(request_id, deadline, arn)
        try:
            event = json.loads(raw) if raw else None
            result = fn(event, ctx)
            out = json.dumps(result)
        except Exception as e:
            body = _error_body(e, request_id)
            print("[ERROR] %s: %s\nTraceback (most recent call last):\n%s" % (
                body["errorType"], body["errorMessage"], "".join(body["stackTrace"])), file=sys.stderr, flush=True)
            _request("POST", "/invocation/%s/error" % request_id, json.dumps(body),
                     {"Lambda-Runtime-Function-Error-Type": body["errorType"]})
            continue
        _request("POST", "/invocation/%s/response" % request_id, out)


if __name__ == "__main__":
    main()
