#!/usr/bin/env python3
"""KMS and Secrets Manager driven by the AWS CLI, their cryptography checked by the openssl CLI.

Usage: kms_cli.py ENDPOINT COMMAND WORKDIR

  prepare WORKDIR  with `aws kms`: a symmetric key (encrypt with an encryption context, a data
                   key), an RSA-2048 ENCRYPT_DECRYPT key (a ciphertext made by `openssl pkeyutl`
                   with RSA-OAEP SHA-256 against GetPublicKey's DER key, decrypted by KMS), an
                   ECC P-256 and an RSA-3072 SIGN_VERIFY key (signatures made by KMS, verified by
                   `openssl dgst`/`pkeyutl` against GetPublicKey's key); a disabled key; with
                   `aws secretsmanager`: a string secret with two versions and a binary secret.
                   Everything to check later goes to WORKDIR.
  check WORKDIR    after a restart: every ciphertext decrypts (the context must match), every
                   signature made before still verifies with openssl and KMS, a new openssl
                   ciphertext decrypts, the disabled key stays disabled (DisabledException), and
                   both secret versions and the binary secret read back.

Exits non-zero, naming the failed check, when anything differs.
"""

import base64
import json
import os
import subprocess
import sys

ENDPOINT, CMD, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
           AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true")
STATE = os.path.join(WORK, "kms-cli.json")


def aws(*args, ok=True):
    """Run `aws --endpoint-url ENDPOINT args...`; its JSON output (or the failure's stderr)."""
    p = subprocess.run(["aws", "--endpoint-url", ENDPOINT, "--output", "json", *args],
                       env=ENV, capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {p.stderr}")
    if not ok:
        return p.returncode, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else {}


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def path(name):
    return os.path.join(WORK, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


def public_pem(key_id, name):
    """GetPublicKey's DER SubjectPublicKeyInfo, as a PEM file openssl reads."""
    out = aws("kms", "get-public-key", "--key-id", key_id)
    der = write(name + ".der", base64.b64decode(out["PublicKey"]))
    rc, _, err = openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-out", path(name + ".pem"))
    check(rc == 0, f"openssl does not read GetPublicKey's key: {err}")
    return path(name + ".pem")


def kms_decrypt(blob_file, context=None):
    args = ["kms", "decrypt", "--ciphertext-blob", f"fileb://{blob_file}"]
    if context:
        args += ["--encryption-context", context]
    return base64.b64decode(aws(*args)["Plaintext"])


def openssl_oaep(pem, plaintext, name):
    """An RSA-OAEP SHA-256 ciphertext made by openssl with KMS's public key."""
    rc, _, err = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem,
                         "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                         "-pkeyopt", "rsa_mgf1_md:sha256", "-in", write(name + ".plain", plaintext),
                         "-out", path(name + ".bin"))
    check(rc == 0, f"openssl pkeyutl -encrypt: {err}")
    return path(name + ".bin")


def kms_sign(key_id, message, algorithm, name):
    out = aws("kms", "sign", "--key-id", key_id, "--message", f"fileb://{write(name + '.msg', message)}",
              "--message-type", "RAW", "--signing-algorithm", algorithm)
    write(name + ".sig", base64.b64decode(out["Signature"]))


def openssl_verify(pem, name, pss=False):
    args = ["dgst", "-sha256", "-verify", pem, "-signature", path(name + ".sig")]
    if pss:
        args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    rc, out, err = openssl(*args, path(name + ".msg"))
    check(rc == 0 and b"Verified OK" in out, f"openssl does not verify {name}: {out} {err}")


def prepare():
    st = {}
    # A symmetric key: a ciphertext bound to an encryption context, and a data key.
    sym = aws("kms", "create-key", "--description", "cli symmetric")["KeyMetadata"]["KeyId"]
    aws("kms", "create-alias", "--alias-name", "alias/cli-sym", "--target-key-id", sym)
    out = aws("kms", "encrypt", "--key-id", "alias/cli-sym",
              "--plaintext", f"fileb://{write('sym.plain', b'the cli secret')}",
              "--encryption-context", "app=cli,stage=test")
    write("sym.bin", base64.b64decode(out["CiphertextBlob"]))
    check(kms_decrypt(path("sym.bin"), "app=cli,stage=test") == b"the cli secret", "sym round trip")
    rc, err = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{path('sym.bin')}",
                  "--encryption-context", "app=other", ok=False)
    check(rc != 0 and "InvalidCiphertextException" in err, f"context mismatch: {err}")
    dk = aws("kms", "generate-data-key", "--key-id", sym, "--key-spec", "AES_256")
    check(len(base64.b64decode(dk["Plaintext"])) == 32, "data key length")
    write("dk.bin", base64.b64decode(dk["CiphertextBlob"]))
    st["dk"] = dk["Plaintext"]
    st["sym"] = sym

    # RSA ENCRYPT_DECRYPT: openssl encrypts with the public key, KMS decrypts.
    rsa = aws("kms", "create-key", "--key-spec", "RSA_2048",
              "--key-usage", "ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    pem = public_pem(rsa, "rsa-enc")
    blob = openssl_oaep(pem, b"made by openssl", "oaep1")
    out = aws("kms", "decrypt", "--key-id", rsa, "--ciphertext-blob", f"fileb://{blob}",
              "--encryption-algorithm", "RSAES_OAEP_SHA_256")
    check(base64.b64decode(out["Plaintext"]) == b"made by openssl", "openssl OAEP decrypted")
    st["rsa"] = rsa

    # Signing keys: KMS signs, openssl verifies.
    ec = aws("kms", "create-key", "--key-spec", "ECC_NIST_P256",
             "--key-usage", "SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms_sign(ec, b"signed by kms with P-256", "ECDSA_SHA_256", "ec")
    openssl_verify(public_pem(ec, "ec"), "ec")
    rsa_s = aws("kms", "create-key", "--key-spec", "RSA_3072",
                "--key-usage", "SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms_sign(rsa_s, b"signed by kms with RSA PKCS1", "RSASSA_PKCS1_V1_5_SHA_256", "rsa-pkcs1")
    kms_sign(rsa_s, b"signed by kms with RSA PSS", "RSASSA_PSS_SHA_256", "rsa-pss")
    pem_s = public_pem(rsa_s, "rsa-sig")
    openssl_verify(pem_s, "rsa-pkcs1")
    openssl_verify(pem_s, "rsa-pss", pss=True)
    st["ec"], st["rsa_s"] = ec, rsa_s

    # A disabled key refuses to encrypt.
    off = aws("kms", "create-key")["KeyMetadata"]["KeyId"]
    aws("kms", "disable-key", "--key-id", off)
    rc, err = aws("kms", "encrypt", "--key-id", off, "--plaintext", "fileb://" + path("sym.plain"),
                  ok=False)
    check(rc != 0 and "DisabledException" in err, f"disabled key: {err}")
    st["off"] = off

    # Secrets Manager: two versions of a string secret, and a binary one.
    arn = aws("secretsmanager", "create-secret", "--name", "cli/db",
              "--secret-string", '{"password":"one"}')["ARN"]
    v2 = aws("secretsmanager", "put-secret-value", "--secret-id", "cli/db",
             "--secret-string", '{"password":"two"}')["VersionId"]
    aws("secretsmanager", "create-secret", "--name", "cli/bin",
        "--secret-binary", f"fileb://{write('secret.bin', bytes(range(256)))}")
    st["secret_arn"], st["v2"] = arn, v2
    with open(STATE, "w") as f:
        json.dump(st, f)
    print("prepared")


def check_after_restart():
    with open(STATE) as f:
        st = json.load(f)
    check(kms_decrypt(path("sym.bin"), "app=cli,stage=test") == b"the cli secret",
          "the context-bound ciphertext after the restart")
    rc, err = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{path('sym.bin')}", ok=False)
    check(rc != 0 and "InvalidCiphertextException" in err, f"context still required: {err}")
    check(base64.b64encode(kms_decrypt(path("dk.bin"))).decode() == st["dk"], "data key")
    # The openssl ciphertext made before, and a new one, decrypt.
    for blob in [path("oaep1.bin"), openssl_oaep(public_pem(st["rsa"], "rsa-enc2"),
                                                 b"made by openssl again", "oaep2")]:
        out = aws("kms", "decrypt", "--key-id", st["rsa"], "--ciphertext-blob", f"fileb://{blob}",
                  "--encryption-algorithm", "RSAES_OAEP_SHA_256")
        check(base64.b64decode(out["Plaintext"]).startswith(b"made by openssl"), blob)
    # Signatures made before the restart verify with openssl (same public key) and with KMS.
    openssl_verify(public_pem(st["ec"], "ec2"), "ec")
    pem_s = public_pem(st["rsa_s"], "rsa-sig2")
    openssl_verify(pem_s, "rsa-pkcs1")
    openssl_verify(pem_s, "rsa-pss", pss=True)
    out = aws("kms", "verify", "--key-id", st["ec"], "--message", f"fileb://{path('ec.msg')}",
              "--signature", f"fileb://{path('ec.sig')}", "--signing-algorithm", "ECDSA_SHA_256")
    check(out["SignatureValid"] is True, "KMS verifies its own signature after the restart")
    rc, err = aws("kms", "encrypt", "--key-id", st["off"], "--plaintext",
                  "fileb://" + path("sym.plain"), ok=False)
    check(rc != 0 and "DisabledException" in err, f"still disabled: {err}")
    cur = aws("secretsmanager", "get-secret-value", "--secret-id", "cli/db")
    check(cur["SecretString"] == '{"password":"two"}' and cur["VersionId"] == st["v2"], cur)
    prev = aws("secretsmanager", "get-secret-value", "--secret-id", st["secret_arn"],
               "--version-stage", "AWSPREVIOUS")
    check(prev["SecretString"] == '{"password":"one"}', prev)
    b = aws("secretsmanager", "get-secret-value", "--secret-id", "cli/bin")
    check(base64.b64decode(b["SecretBinary"]) == bytes(range(256)), "binary secret")
    print("checked")


if CMD == "prepare":
    prepare()
elif CMD == "check":
    check_after_restart()
else:
    sys.exit(f"unknown command {CMD}")
