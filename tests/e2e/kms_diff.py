#!/usr/bin/env python3
"""Key material and secret values for the `snapstack snapshot diff` test (tests/kms_e2e.rs).

Usage: kms_diff.py ENDPOINT round N FILE

  round N FILE   a KMS key with imported material that this script knows (wrapped with
                 `cryptography`), an HMAC key likewise, and a secret version whose value carries
                 PLAINTEXT-MARKER-; appends to FILE (JSON) every byte string that must never be
                 printed (the material in hex and base64, the values) and every name the diff
                 must show (the key ids, the secret's name)
"""

import base64
import json
import os
import sys

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from checks import check, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1})
MARK = "PLAINTEXT-MARKER-"


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=CFG)


def imported(kms, spec, usage, material):
    kid = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    pub = serialization.load_der_public_key(p["PublicKey"])
    wrapped = pub.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                 algorithm=hashes.SHA256(), label=None))
    kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kid


def cmd_round(n, path):
    kms, sm = client("kms"), client("secretsmanager")
    try:
        with open(path) as f:
            st = json.load(f)
    except FileNotFoundError:
        st = {"secret": [], "shown": []}
    sym, mac = os.urandom(32), os.urandom(32)
    k1 = imported(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", sym)
    k2 = imported(kms, "HMAC_256", "GENERATE_VERIFY_MAC", mac)
    blob = kms.encrypt(KeyId=k1, Plaintext=(MARK + "kms-" + n).encode())["CiphertextBlob"]
    check(kms.decrypt(CiphertextBlob=blob)["Plaintext"] == (MARK + "kms-" + n).encode(), "imported")
    value = f"{MARK}secret-{n}"
    if n == "1":
        sm.create_secret(Name="diff/db", SecretString=value)
    else:
        sm.put_secret_value(SecretId="diff/db", SecretString=value)
        sm.create_secret(Name="diff/bin", SecretBinary=(MARK + "binary").encode())
    for m in [sym, mac]:
        st["secret"] += [m.hex(), base64.b64encode(m).decode(), base64.urlsafe_b64encode(m).decode()]
    st["secret"] += [value]
    st["shown"] += [k1, k2]
    with open(path, "w") as f:
        json.dump(st, f)


if __name__ == "__main__":
    run_commands({"round": (cmd_round, 2)}, sys.argv[2:])
