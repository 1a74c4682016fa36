"""The AWS CLI and the openssl CLI for the e2e drivers `kms_cli.py` and `secrets_cli.py`.

The AWS CLI (v1) is a Python program: each `aws ...` command runs its own driver
(`awscli.clidriver`, what the `aws` executable calls) in this process, with the arguments,
shorthand syntax, `fileb://` parameters and JSON output of the command line, without starting
a new interpreter per command (hundreds of commands; a cold `aws` costs seconds on a loaded
machine). SNAPSTACK_AWS_CLI_SUBPROCESS=1 runs the `aws` executable instead.

Every `aws` call is recorded (service and command) in WORKDIR/cli-ops.txt once the server has
answered it (success or an AWS error), so that `coverage` can require every operation of the
model to have been driven through the CLI.
"""

import base64
import contextlib
import io
import json
import os
import subprocess

import botocore.session
from botocore import xform_name

ENV = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
           AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true",
           AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")


class Cli:
    def __init__(self, endpoint, work):
        self.endpoint, self.work = endpoint, work

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def _record(self, service, command):
        with open(self.path("cli-ops.txt"), "a") as f:
            f.write(f"{service} {command}\n")

    def aws(self, service, command, *args, ok=True, region=None):
        """`aws --endpoint-url ENDPOINT service command args...`: its JSON output; with ok=False
        the call must fail with an AWS error, whose stderr is returned."""
        argv = ["aws", "--endpoint-url", self.endpoint, "--output", "json"]
        if region:
            argv += ["--region", region]
        rc, out, err = run_cli([*argv[1:], service, command, *args])
        answered = rc == 0 or "An error occurred (" in err
        if answered:
            self._record(service, command)
        if ok:
            check(rc == 0, f"aws {service} {command} {' '.join(args)} failed: {err}")
            return json.loads(out) if out.strip() else {}
        check(rc != 0 and answered,
              f"aws {service} {command} should fail with an AWS error: {out} {err}")
        return err

    def fails(self, code, service, command, *args, region=None):
        """The call fails with the AWS error `code`; its message."""
        err = self.aws(service, command, *args, ok=False, region=region)
        check(f"An error occurred ({code})" in err, f"expected {code} from {command}: {err}")
        return err

    def coverage(self, service):
        """Every operation of the service's model was answered through the CLI."""
        model = botocore.session.get_session().get_service_model(service)
        want = {xform_name(op, "-") for op in model.operation_names}
        with open(self.path("cli-ops.txt")) as f:
            done = {line.split()[1] for line in f if line.split()[0] == service}
        missing = sorted(want - done)
        check(not missing, f"{service} operations never driven through the AWS CLI: {missing}")
        return len(want)


def run_cli(argv):
    """`aws argv...`: (exit code, stdout, stderr)."""
    if os.environ.get("SNAPSTACK_AWS_CLI_SUBPROCESS") == "1":
        p = subprocess.run(["aws", *argv], env=ENV, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr
    from awscli.clidriver import create_clidriver
    os.environ.update(ENV)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = create_clidriver().main(list(argv))
        except SystemExit as e:  # argument errors exit as the executable does
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue(), err.getvalue()


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def b64d(s):
    return base64.b64decode(s)


def epoch(t):
    """A timestamp as the CLI prints it (epoch number or ISO 8601 text) in epoch seconds."""
    if isinstance(t, (int, float)):
        return float(t)
    from datetime import datetime
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
