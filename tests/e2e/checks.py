"""Assertions shared by the boto3 drivers in this folder."""

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
