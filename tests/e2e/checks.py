"""Assertions and the command-line runner shared by the boto3 drivers in this folder."""

import sys

from botocore.exceptions import ClientError


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_error(code, fn, *args, **kwargs):
    """Call fn and require that it fails with the AWS error code `code`; return the error."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, f"expected {code}, got {got}: {e.response}")
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


def kms_key(kms, alias, description):
    """The KeyMetadata of the KMS key behind `alias`, made (with the alias) when there is none."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError:
        meta = kms.create_key(Description=description)["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        return meta


def run_commands(commands, args):
    """Run `name arg...` groups from `args` in order: `commands` maps a name to (function, number
    of arguments). A failed check or an unexpected AWS error prints FAILED and exits 1."""
    args = list(args)
    try:
        while args:
            name = args.pop(0)
            fn, n = commands[name]
            fn(*args[:n])
            args = args[n:]
    except (AssertionError, ClientError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
