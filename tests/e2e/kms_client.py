#!/usr/bin/env python3
"""Drive a running snapstack's KMS with boto3, and check its cryptography with `cryptography`.

Usage: kms_client.py ENDPOINT COMMAND [ARGS]...

  prepare STATE   keys of every kind; ciphertexts, data keys, signatures, MACs, a locally made
                  RSA-OAEP ciphertext, a rotation, a scheduled deletion; what to check to STATE
  check STATE     after a restart: every ciphertext decrypts, every signature verifies, the
                  rotation and the deletion deadline are kept
"""

import base64
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]


def kms():
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, (code, e.response))
        return e
    raise AssertionError(f"expected {code}")


HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def verify_locally(public_der, alg, message, signature):
    """Verify a KMS signature with `cryptography` against GetPublicKey's DER key."""
    pub = serialization.load_der_public_key(public_der)
    h = HASHES[alg[-3:]]()
    if alg.startswith("ECDSA"):
        pub.verify(signature, message, ec.ECDSA(h))
    elif alg.startswith("RSASSA_PSS"):
        pub.verify(signature, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    else:
        pub.verify(signature, message, padding.PKCS1v15(), h)


def cmd_prepare(path):
    c = kms()
    state = {"blobs": [], "sigs": [], "macs": []}
    sym = c.create_key(Description="sym")["KeyMetadata"]
    check(sym["KeySpec"] == "SYMMETRIC_DEFAULT" and sym["KeyState"] == "Enabled", sym)
    kid = sym["KeyId"]
    c.create_alias(AliasName="alias/e2e", TargetKeyId=kid)
    expect_error("AlreadyExistsException", c.create_alias, AliasName="alias/e2e", TargetKeyId=kid)
    ctx = {"purpose": "e2e", "n": "1"}
    blob = c.encrypt(KeyId="alias/e2e", Plaintext=b"before rotation", EncryptionContext=ctx)["CiphertextBlob"]
    state["blobs"].append([base64.b64encode(blob).decode(), "before rotation", ctx])
    # Decrypt needs no KeyId; the context must match.
    out = c.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    check(out["Plaintext"] == b"before rotation" and out["KeyId"] == sym["Arn"], out)
    expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=blob, EncryptionContext={"purpose": "x"})
    expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=b"\x01garbage" * 8)
    # Rotation: old ciphertexts still decrypt.
    c.rotate_key_on_demand(KeyId=kid)
    rots = c.list_key_rotations(KeyId=kid)["Rotations"]
    check(len(rots) == 1 and rots[0]["RotationType"] == "ON_DEMAND", rots)
    check(c.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"before rotation", "old blob")
    blob2 = c.encrypt(KeyId=kid, Plaintext=b"after rotation")["CiphertextBlob"]
    state["blobs"].append([base64.b64encode(blob2).decode(), "after rotation", {}])
    dk = c.generate_data_key(KeyId=kid, KeySpec="AES_256")
    check(len(dk["Plaintext"]) == 32, dk)
    state["blobs"].append([base64.b64encode(dk["CiphertextBlob"]).decode(),
                           base64.b64encode(dk["Plaintext"]).decode(), "b64"])
    # ReEncrypt to a second key.
    other = c.create_key()["KeyMetadata"]["KeyId"]
    re = c.re_encrypt(CiphertextBlob=blob2, DestinationKeyId=other)
    check(re["SourceKeyId"] == sym["Arn"], re)
    state["blobs"].append([base64.b64encode(re["CiphertextBlob"]).decode(), "after rotation", {}])
    # A disabled key refuses; enabled again it works.
    c.disable_key(KeyId=other)
    expect_error("DisabledException", c.decrypt, CiphertextBlob=re["CiphertextBlob"])
    c.enable_key(KeyId=other)
    # Signing keys: sign here, verify with `cryptography` against GetPublicKey.
    for spec, algs in [("ECC_NIST_P256", ["ECDSA_SHA_256"]), ("ECC_NIST_P384", ["ECDSA_SHA_384"]),
                       ("ECC_NIST_P521", ["ECDSA_SHA_512"]), ("ECC_SECG_P256K1", ["ECDSA_SHA_256"]),
                       ("RSA_2048", ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_512"])]:
        k = c.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        pub = c.get_public_key(KeyId=k)["PublicKey"]
        for alg in algs:
            msg = f"message for {spec}".encode()
            sig = c.sign(KeyId=k, Message=msg, SigningAlgorithm=alg)["Signature"]
            verify_locally(pub, alg, msg, sig)
            check(c.verify(KeyId=k, Message=msg, Signature=sig, SigningAlgorithm=alg)["SignatureValid"], alg)
            expect_error("KMSInvalidSignatureException", c.verify, KeyId=k, Message=msg + b"!",
                         Signature=sig, SigningAlgorithm=alg)
            state["sigs"].append([k, alg, base64.b64encode(msg).decode(), base64.b64encode(sig).decode()])
    # RSA encryption: encrypt locally with the public key, decrypt through KMS.
    rk = c.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    pub = serialization.load_der_public_key(c.get_public_key(KeyId=rk)["PublicKey"])
    local = pub.encrypt(b"made by cryptography", padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    out = c.decrypt(CiphertextBlob=local, KeyId=rk, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    check(out["Plaintext"] == b"made by cryptography", out)
    state["rsa"] = [rk, base64.b64encode(local).decode()]
    expect_error("InvalidKeyUsageException", c.encrypt, KeyId=rk, Plaintext=b"x")
    # HMAC.
    hk = c.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = c.generate_mac(KeyId=hk, Message=b"mac me", MacAlgorithm="HMAC_SHA_256")["Mac"]
    check(len(mac) == 32, mac)
    state["macs"].append([hk, base64.b64encode(mac).decode()])
    # Scheduled deletion: pending, refused for use, deadline kept across the restart.
    gone = c.create_key()["KeyMetadata"]["KeyId"]
    gb = c.encrypt(KeyId=gone, Plaintext=b"x")["CiphertextBlob"]
    d = c.schedule_key_deletion(KeyId=gone, PendingWindowInDays=7)
    e = expect_error("KMSInvalidStateException", c.decrypt, CiphertextBlob=gb)
    check(e.response["Error"]["Message"].endswith("is pending deletion."), e.response)
    state["gone"] = [gone, d["DeletionDate"].timestamp()]
    c.tag_resource(KeyId=kid, Tags=[{"TagKey": "team", "TagValue": "e2e"}])
    state["kid"] = kid
    with open(path, "w") as f:
        json.dump(state, f)


def cmd_check(path):
    c = kms()
    with open(path) as f:
        state = json.load(f)
    for b, plain, ctx in state["blobs"]:
        if ctx == "b64":
            out = c.decrypt(CiphertextBlob=base64.b64decode(b))
            check(out["Plaintext"] == base64.b64decode(plain), "data key")
        else:
            out = c.decrypt(CiphertextBlob=base64.b64decode(b), EncryptionContext=ctx)
            check(out["Plaintext"] == plain.encode(), (out, plain))
    for k, alg, msg, sig in state["sigs"]:
        msg, sig = base64.b64decode(msg), base64.b64decode(sig)
        check(c.verify(KeyId=k, Message=msg, Signature=sig, SigningAlgorithm=alg)["SignatureValid"], alg)
        verify_locally(c.get_public_key(KeyId=k)["PublicKey"], alg, msg, sig)
    rk, local = state["rsa"]
    out = c.decrypt(CiphertextBlob=base64.b64decode(local), KeyId=rk, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    check(out["Plaintext"] == b"made by cryptography", out)
    for hk, mac in state["macs"]:
        check(c.verify_mac(KeyId=hk, Message=b"mac me", MacAlgorithm="HMAC_SHA_256",
                           Mac=base64.b64decode(mac))["MacValid"], "mac")
    gone, at = state["gone"]
    meta = c.describe_key(KeyId=gone)["KeyMetadata"]
    check(meta["KeyState"] == "PendingDeletion" and abs(meta["DeletionDate"].timestamp() - at) < 1, meta)
    check(len(c.list_key_rotations(KeyId=state["kid"])["Rotations"]) == 1, "rotations")
    check(c.list_resource_tags(KeyId=state["kid"])["Tags"] == [{"TagKey": "team", "TagValue": "e2e"}], "tags")
    aliases = [a["AliasName"] for a in c.list_aliases()["Aliases"]]
    check("alias/e2e" in aliases, aliases)


COMMANDS = {"prepare": cmd_prepare, "check": cmd_check}

if __name__ == "__main__":
    COMMANDS[ARGS[0]](*ARGS[1:])
    print("ok")
