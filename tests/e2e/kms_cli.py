#!/usr/bin/env python3
"""KMS driven by the AWS CLI, its cryptography checked by the openssl CLI.

Usage: kms_cli.py ENDPOINT COMMAND WORKDIR

  prepare WORKDIR  with `aws kms`, every operation of the model:
                   - a symmetric key (encrypt with an encryption context, data keys, ReEncrypt,
                     rotation, policies, tags, aliases, grants and grant tokens, a cancelled
                     deletion); a disabled key;
                   - RSA 2048/3072/4096 SIGN_VERIFY keys with all six signing algorithms, ECC
                     P-256/P-384/P-521/secp256k1: every signature verified by `openssl dgst`
                     against GetPublicKey's DER key, RAW and DIGEST messages;
                   - RSA ENCRYPT_DECRYPT: RSA-OAEP SHA-1 and SHA-256 ciphertexts made by
                     `openssl pkeyutl`, decrypted by KMS;
                   - HMAC 224/256/384/512 keys whose material is imported (wrapped by openssl,
                     RSA-OAEP and RSA + AES key wrap): each MAC equals `openssl dgst -mac HMAC`;
                   - data key pairs checked by `openssl pkey`, ECDH checked by `openssl pkeyutl
                     -derive`, custom key stores, a Multi-Region key, its replica and a primary
                     Region change, last usage.
                   Everything to check later goes to WORKDIR.
  check WORKDIR    after a restart: every ciphertext decrypts (the context must match), every
                   signature and MAC made before still verifies with openssl and KMS, new openssl
                   ciphertexts decrypt, the disabled key stays disabled, grants, rotations,
                   aliases, tags and the primary Region are kept; and every KMS operation of the
                   model was driven through the CLI (coverage).

Exits non-zero, naming the failed check, when anything differs.
"""

import json
import os
import sys
import time

from aws_cli import Cli, b64d, check, epoch, openssl

ENDPOINT, CMD, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
C = Cli(ENDPOINT, WORK)
path, write = C.path, C.write
STATE = path("kms-cli.json")

RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
               "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]
ECC = [("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
       ("ECC_NIST_P521", "ECDSA_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256")]
GRANTEE = "arn:aws:iam::000000000000:role/cli-grantee"
RETIREE = "arn:aws:iam::000000000000:role/cli-retiree"


def kms(command, *args, **kw):
    return C.aws("kms", command, *args, **kw)


def kms_fails(code, command, *args, **kw):
    return C.fails(code, "kms", command, *args, **kw)


def key(*args):
    return kms("create-key", *args)["KeyMetadata"]["KeyId"]


def public_pem(key_id, name):
    """GetPublicKey's DER SubjectPublicKeyInfo, as a PEM file openssl reads."""
    out = kms("get-public-key", "--key-id", key_id)
    der = write(name + ".der", b64d(out["PublicKey"]))
    rc, _, err = openssl("pkey", "-pubin", "-inform", "DER", "-in", der, "-out", path(name + ".pem"))
    check(rc == 0, f"openssl does not read GetPublicKey's key: {err}")
    return path(name + ".pem")


def kms_decrypt(blob_file, context=None, *extra):
    args = ["--ciphertext-blob", f"fileb://{blob_file}", *extra]
    if context:
        args += ["--encryption-context", context]
    return b64d(kms("decrypt", *args)["Plaintext"])


def openssl_oaep(pem, plaintext, name, md="sha256"):
    """An RSA-OAEP ciphertext made by openssl with KMS's public key."""
    rc, _, err = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem,
                         "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
                         "-pkeyopt", f"rsa_mgf1_md:{md}", "-in", write(name + ".plain", plaintext),
                         "-out", path(name + ".bin"))
    check(rc == 0, f"openssl pkeyutl -encrypt: {err}")
    return path(name + ".bin")


def sha(alg):
    return "sha" + alg[-3:]


def kms_sign(key_id, message, algorithm, name, digest=False):
    """KMS signs `message` (RAW) or openssl's digest of it (DIGEST); the signature goes to
    NAME.sig, the message to NAME.msg."""
    write(name + ".msg", message)
    if digest:
        rc, d, err = openssl("dgst", "-" + sha(algorithm), "-binary", path(name + ".msg"))
        check(rc == 0, err)
        args = ["--message", f"fileb://{write(name + '.digest', d)}", "--message-type", "DIGEST"]
    else:
        args = ["--message", f"fileb://{path(name + '.msg')}", "--message-type", "RAW"]
    out = kms("sign", "--key-id", key_id, *args, "--signing-algorithm", algorithm)
    check(out["SigningAlgorithm"] == algorithm, out)
    write(name + ".sig", b64d(out["Signature"]))


def openssl_verify(pem, name, algorithm):
    """openssl verifies NAME.sig over NAME.msg with the algorithm's hash and padding."""
    if algorithm == "ED25519_SHA_512":
        args = ["pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-sigfile", path(name + ".sig"), "-in"]
        rc, out, err = openssl(*args, path(name + ".msg"))
        check(rc == 0 and b"Signature Verified Successfully" in out, f"openssl does not verify {name}: {out} {err}")
        rc, _, _ = openssl(*args, write(name + ".bad", C.read(name + ".msg") + b"!"))
        check(rc != 0, f"openssl verifies {name} over a changed message")
        return
    args = ["dgst", "-" + sha(algorithm), "-verify", pem, "-signature", path(name + ".sig")]
    if "_PSS_" in algorithm:
        # KMS's PSS salt is as long as the digest.
        salt = str(int(algorithm[-3:]) // 8)
        args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", f"rsa_pss_saltlen:{salt}"]
    rc, out, err = openssl(*args, path(name + ".msg"))
    check(rc == 0 and b"Verified OK" in out, f"openssl does not verify {name}: {out} {err}")
    # And a changed message does not verify.
    bad = write(name + ".bad", C.read(name + ".msg") + b"!")
    rc, out, _ = openssl(*args, bad)
    check(rc != 0, f"openssl verifies {name} over a changed message")


def kms_verify(key_id, name, algorithm):
    out = kms("verify", "--key-id", key_id, "--message", f"fileb://{path(name + '.msg')}",
              "--signature", f"fileb://{path(name + '.sig')}", "--signing-algorithm", algorithm)
    check(out["SignatureValid"] is True, (name, out))


def import_material(key_id, material, algorithm, name):
    """GetParametersForImport, the material wrapped by openssl as AWS's guide does, and
    ImportKeyMaterial."""
    params = kms("get-parameters-for-import", "--key-id", key_id, "--wrapping-algorithm", algorithm,
                 "--wrapping-key-spec", "RSA_2048")
    der = write(name + ".wrap.der", b64d(params["PublicKey"]))
    token = write(name + ".token", b64d(params["ImportToken"]))
    md = "sha256" if algorithm.endswith("_256") else "sha1"
    oaep = ["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", der,
            "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
            "-pkeyopt", f"rsa_mgf1_md:{md}"]
    if algorithm.startswith("RSAES_OAEP"):
        rc, wrapped, err = openssl(*oaep, data=material)
        check(rc == 0, err)
    else:
        aes = os.urandom(32)
        rc, head, err = openssl(*oaep, data=aes)
        check(rc == 0, err)
        rc, body, err = openssl("enc", "-id-aes256-wrap-pad", "-K", aes.hex(), "-iv", "A65959A6",
                                data=material)
        check(rc == 0, f"openssl enc -id-aes256-wrap-pad: {err}")
        wrapped = head + body
    kms("import-key-material", "--key-id", key_id, "--import-token", f"fileb://{token}",
        "--encrypted-key-material", f"fileb://{write(name + '.wrapped', wrapped)}",
        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")


def openssl_hmac(bits, material, message):
    rc, out, err = openssl("dgst", f"-sha{bits}", "-mac", "HMAC", "-macopt", f"hexkey:{material.hex()}",
                           "-binary", data=message)
    check(rc == 0, err)
    return out


def der_public_of_private(private_der, name):
    """openssl's public key (DER SPKI) of a PKCS#8 DER private key."""
    rc, out, err = openssl("pkey", "-inform", "DER", "-in", write(name + ".key.der", private_der),
                           "-pubout", "-outform", "DER")
    check(rc == 0, f"openssl does not read the private key: {err}")
    return out


def prepare_symmetric(st):
    # A symmetric key: a ciphertext bound to an encryption context, data keys, ReEncrypt.
    sym = key("--description", "cli symmetric", "--tags", "TagKey=team,TagValue=cli",
              "TagKey=gone,TagValue=soon")
    kms("create-alias", "--alias-name", "alias/cli-sym", "--target-key-id", sym)
    out = kms("encrypt", "--key-id", "alias/cli-sym",
              "--plaintext", f"fileb://{write('sym.plain', b'the cli secret')}",
              "--encryption-context", "app=cli,stage=test")
    write("sym.bin", b64d(out["CiphertextBlob"]))
    check(kms_decrypt(path("sym.bin"), "app=cli,stage=test") == b"the cli secret", "sym round trip")
    kms_fails("InvalidCiphertextException", "decrypt", "--ciphertext-blob",
              f"fileb://{path('sym.bin')}", "--encryption-context", "app=other")
    dk = kms("generate-data-key", "--key-id", sym, "--key-spec", "AES_256")
    check(len(b64d(dk["Plaintext"])) == 32, "data key length")
    write("dk.bin", b64d(dk["CiphertextBlob"]))
    st["dk"] = dk["Plaintext"]
    wp = kms("generate-data-key-without-plaintext", "--key-id", sym, "--number-of-bytes", "24",
             "--encryption-context", "use=wp")
    check("Plaintext" not in wp, wp)
    write("wp.bin", b64d(wp["CiphertextBlob"]))
    check(len(kms_decrypt(path("wp.bin"), "use=wp")) == 24, "data key without plaintext")
    other = key("--description", "cli re-encrypt target")
    re = kms("re-encrypt", "--ciphertext-blob", f"fileb://{path('sym.bin')}",
             "--source-encryption-context", "app=cli,stage=test",
             "--destination-key-id", other, "--destination-encryption-context", "to=other")
    check(re["SourceKeyId"].endswith(sym) and re["KeyId"].endswith(other), re)
    write("re.bin", b64d(re["CiphertextBlob"]))
    check(kms_decrypt(path("re.bin"), "to=other") == b"the cli secret", "re-encrypted")
    st["sym"], st["other"] = sym, other
    # Metadata: describe, list, description, tags.
    meta = kms("describe-key", "--key-id", "alias/cli-sym")["KeyMetadata"]
    check(meta["KeyId"] == sym and meta["Description"] == "cli symmetric", meta)
    ids = {k["KeyId"] for k in kms("list-keys")["Keys"]}
    check({sym, other} <= ids, ids)
    kms("update-key-description", "--key-id", sym, "--description", "cli symmetric, renamed")
    check(kms("describe-key", "--key-id", sym)["KeyMetadata"]["Description"] == "cli symmetric, renamed",
          "description")
    kms("tag-resource", "--key-id", sym, "--tags", "TagKey=stage,TagValue=test")
    kms("untag-resource", "--key-id", sym, "--tag-keys", "gone")
    tags = kms("list-resource-tags", "--key-id", sym)["Tags"]
    check(sorted((t["TagKey"], t["TagValue"]) for t in tags) == [("stage", "test"), ("team", "cli")], tags)
    # Rotation: automatic with a period, on demand; old ciphertexts still decrypt.
    kms("enable-key-rotation", "--key-id", sym, "--rotation-period-in-days", "90")
    rs = kms("get-key-rotation-status", "--key-id", sym)
    check(rs["KeyRotationEnabled"] is True and rs["RotationPeriodInDays"] == 90, rs)
    kms("rotate-key-on-demand", "--key-id", sym)
    rots = kms("list-key-rotations", "--key-id", sym)["Rotations"]
    check(len(rots) == 1 and rots[0]["RotationType"] == "ON_DEMAND", rots)
    check(kms_decrypt(path("sym.bin"), "app=cli,stage=test") == b"the cli secret", "after rotation")
    kms("disable-key-rotation", "--key-id", other)
    check(kms("get-key-rotation-status", "--key-id", other)["KeyRotationEnabled"] is False, "rotation off")
    # Policies.
    check(kms("list-key-policies", "--key-id", sym)["PolicyNames"] == ["default"], "policy names")
    pol = json.loads(kms("get-key-policy", "--key-id", sym, "--policy-name", "default")["Policy"])
    check(pol["Statement"][0]["Action"] == "kms:*", pol)
    pol["Statement"].append({"Sid": "cli", "Effect": "Allow", "Principal": {"AWS": GRANTEE},
                             "Action": "kms:Decrypt", "Resource": "*"})
    kms("put-key-policy", "--key-id", sym, "--policy-name", "default", "--policy", json.dumps(pol))
    got = json.loads(kms("get-key-policy", "--key-id", sym)["Policy"])
    check(got["Statement"][-1]["Sid"] == "cli", got)
    kms_fails("MalformedPolicyDocumentException", "put-key-policy", "--key-id", sym,
              "--policy-name", "default", "--policy", "not json")
    # Aliases: update to another key, list by key, delete.
    kms("create-alias", "--alias-name", "alias/cli-moving", "--target-key-id", sym)
    kms("update-alias", "--alias-name", "alias/cli-moving", "--target-key-id", other)
    names = [a["AliasName"] for a in kms("list-aliases", "--key-id", other)["Aliases"]]
    check(names == ["alias/cli-moving"], names)
    kms("create-alias", "--alias-name", "alias/cli-deleted", "--target-key-id", other)
    kms("delete-alias", "--alias-name", "alias/cli-deleted")
    names = [a["AliasName"] for a in kms("list-aliases")["Aliases"]]
    check("alias/cli-deleted" not in names and "alias/cli-sym" in names, names)
    # Random bytes.
    check(len(b64d(kms("generate-random", "--number-of-bytes", "48")["Plaintext"])) == 48, "random")


def prepare_grants(st):
    sym = st["sym"]
    g1 = kms("create-grant", "--key-id", sym, "--grantee-principal", GRANTEE,
             "--retiring-principal", RETIREE, "--operations", "Decrypt", "Encrypt",
             "--name", "cli-kept")
    # A grant token makes the grant effective at once; a malformed one is refused.
    out = kms("encrypt", "--key-id", sym, "--plaintext", f"fileb://{path('sym.plain')}",
              "--grant-tokens", g1["GrantToken"])
    write("granted.bin", b64d(out["CiphertextBlob"]))
    check(kms_decrypt(path("granted.bin"), None, "--grant-tokens", g1["GrantToken"]) == b"the cli secret",
          "decrypt with a grant token")
    kms_fails("InvalidGrantTokenException", "decrypt", "--ciphertext-blob",
              f"fileb://{path('granted.bin')}", "--grant-tokens", "not-a-grant-token")
    g2 = kms("create-grant", "--key-id", sym, "--grantee-principal", GRANTEE,
             "--retiring-principal", RETIREE, "--operations", "Decrypt", "--name", "cli-retired")
    g3 = kms("create-grant", "--key-id", sym, "--grantee-principal", GRANTEE,
             "--operations", "GenerateDataKey", "--constraints",
             "EncryptionContextSubset={app=cli}")
    grants = kms("list-grants", "--key-id", sym)["Grants"]
    check({g["GrantId"] for g in grants} == {g1["GrantId"], g2["GrantId"], g3["GrantId"]}, grants)
    c = [g for g in grants if g["GrantId"] == g3["GrantId"]][0]
    check(c["Constraints"] == {"EncryptionContextSubset": {"app": "cli"}}, c)
    retirable = kms("list-retirable-grants", "--retiring-principal", RETIREE)["Grants"]
    check({g["GrantId"] for g in retirable} == {g1["GrantId"], g2["GrantId"]}, retirable)
    kms("retire-grant", "--grant-token", g2["GrantToken"])
    kms("revoke-grant", "--key-id", sym, "--grant-id", g3["GrantId"])
    kms_fails("InvalidGrantIdException", "revoke-grant", "--key-id", sym, "--grant-id", g3["GrantId"])
    grants = kms("list-grants", "--key-id", sym)["Grants"]
    check([g["GrantId"] for g in grants] == [g1["GrantId"]], grants)
    st["grant"] = g1["GrantId"]


def prepare_lifecycle(st):
    # A disabled key refuses to encrypt.
    off = key()
    kms("disable-key", "--key-id", off)
    kms_fails("DisabledException", "encrypt", "--key-id", off, "--plaintext",
              "fileb://" + path("sym.plain"))
    st["off"] = off
    # A scheduled deletion, cancelled: the key comes back disabled; enabled, it works again.
    gone = key()
    d = kms("schedule-key-deletion", "--key-id", gone, "--pending-window-in-days", "7")
    check(d["KeyState"] == "PendingDeletion" and d["PendingWindowInDays"] == 7, d)
    kms_fails("KMSInvalidStateException", "encrypt", "--key-id", gone, "--plaintext",
              "fileb://" + path("sym.plain"))
    kms("cancel-key-deletion", "--key-id", gone)
    check(kms("describe-key", "--key-id", gone)["KeyMetadata"]["KeyState"] == "Disabled", "cancelled")
    kms("enable-key", "--key-id", gone)
    kms("encrypt", "--key-id", gone, "--plaintext", "fileb://" + path("sym.plain"))
    # One left pending: its deadline is kept across the restart.
    pend = key()
    d = kms("schedule-key-deletion", "--key-id", pend, "--pending-window-in-days", "9")
    st["pending"] = [pend, epoch(d["DeletionDate"])]


def prepare_signatures(st):
    """Every RSA size with every signing algorithm, every ECC curve; RAW and DIGEST."""
    st["sigs"] = []
    for bits in [2048, 3072, 4096]:
        k = key("--key-spec", f"RSA_{bits}", "--key-usage", "SIGN_VERIFY")
        pem = public_pem(k, f"rsa{bits}")
        for alg in RSA_SIGNING:
            name = f"rsa{bits}-{alg}"
            kms_sign(k, f"signed by kms: {name}".encode(), alg, name)
            openssl_verify(pem, name, alg)
            st["sigs"].append([k, alg, name])
        # A DIGEST message: the signature verifies over the message whose digest was signed.
        alg = "RSASSA_PSS_SHA_384" if bits == 3072 else "RSASSA_PKCS1_V1_5_SHA_256"
        name = f"rsa{bits}-digest"
        kms_sign(k, f"digest signed by kms: {name}".encode(), alg, name, digest=True)
        openssl_verify(pem, name, alg)
        st["sigs"].append([k, alg, name])
    for spec, alg in ECC:
        k = key("--key-spec", spec, "--key-usage", "SIGN_VERIFY")
        pem = public_pem(k, spec)
        for digest in [False, True]:
            name = f"{spec}-{'digest' if digest else 'raw'}"
            kms_sign(k, f"signed by kms: {name}".encode(), alg, name, digest=digest)
            openssl_verify(pem, name, alg)
            st["sigs"].append([k, alg, name])
    # Ed25519: pure signatures verified by openssl; Ed25519ph (which openssl 3.0's CLI lacks) of
    # a digest verified by KMS over the message.
    k = key("--key-spec", "ECC_NIST_EDWARDS25519", "--key-usage", "SIGN_VERIFY")
    pem = public_pem(k, "ed25519")
    kms_sign(k, b"signed by kms: ed25519", "ED25519_SHA_512", "ed25519-raw")
    openssl_verify(pem, "ed25519-raw", "ED25519_SHA_512")
    st["sigs"].append([k, "ED25519_SHA_512", "ed25519-raw"])
    kms_sign(k, b"signed by kms: ed25519ph", "ED25519_PH_SHA_512", "ed25519ph", digest=True)
    kms_verify(k, "ed25519ph", "ED25519_PH_SHA_512")
    kms_fails("ValidationException", "sign", "--key-id", k, "--message", f"fileb://{path('ed25519ph.digest')}",
              "--message-type", "DIGEST", "--signing-algorithm", "ED25519_SHA_512")
    k = st["sigs"][-2][0]
    # A digest of the wrong length is refused.
    kms_fails("ValidationException", "sign", "--key-id", k, "--message",
              f"fileb://{write('short.digest', b'x' * 31)}", "--message-type", "DIGEST",
              "--signing-algorithm", "ECDSA_SHA_256")
    k, alg, name = st["sigs"][0]
    kms_verify(k, name, alg)
    write("forged.sig", C.read(name + ".sig")[:-1] + bytes([C.read(name + ".sig")[-1] ^ 1]))
    kms_fails("KMSInvalidSignatureException", "verify", "--key-id", k, "--message",
              f"fileb://{path(name + '.msg')}", "--signature", f"fileb://{path('forged.sig')}",
              "--signing-algorithm", alg)


def prepare_rsa_encryption(st):
    """openssl encrypts with the public key (OAEP SHA-1 and SHA-256), KMS decrypts."""
    rsa = key("--key-spec", "RSA_2048", "--key-usage", "ENCRYPT_DECRYPT")
    pem = public_pem(rsa, "rsa-enc")
    for md, alg in [("sha256", "RSAES_OAEP_SHA_256"), ("sha1", "RSAES_OAEP_SHA_1")]:
        blob = openssl_oaep(pem, b"made by openssl " + md.encode(), "oaep-" + md, md)
        out = kms("decrypt", "--key-id", rsa, "--ciphertext-blob", f"fileb://{blob}",
                  "--encryption-algorithm", alg)
        check(b64d(out["Plaintext"]) == b"made by openssl " + md.encode(), f"openssl OAEP {md}")
    # KMS encrypts with OAEP SHA-1; KMS decrypts (the private key never leaves KMS).
    out = kms("encrypt", "--key-id", rsa, "--plaintext", f"fileb://{path('sym.plain')}",
              "--encryption-algorithm", "RSAES_OAEP_SHA_1")
    write("kms-oaep1.bin", b64d(out["CiphertextBlob"]))
    kms_fails("InvalidCiphertextException", "decrypt", "--key-id", rsa, "--ciphertext-blob",
              f"fileb://{path('kms-oaep1.bin')}", "--encryption-algorithm", "RSAES_OAEP_SHA_256")
    st["rsa"] = rsa


def prepare_macs(st):
    """HMAC keys of every size with imported material: KMS's MAC is openssl's."""
    st["macs"] = []
    wrapping = {224: "RSAES_OAEP_SHA_1", 256: "RSAES_OAEP_SHA_256", 384: "RSA_AES_KEY_WRAP_SHA_1",
                512: "RSA_AES_KEY_WRAP_SHA_256"}
    for bits, wrap_alg in wrapping.items():
        k = key("--origin", "EXTERNAL", "--key-spec", f"HMAC_{bits}", "--key-usage", "GENERATE_VERIFY_MAC")
        check(kms("describe-key", "--key-id", k)["KeyMetadata"]["KeyState"] == "PendingImport", k)
        material = os.urandom(bits // 8)
        import_material(k, material, wrap_alg, f"hmac{bits}")
        msg = f"mac me with HMAC_{bits}".encode()
        mac = b64d(kms("generate-mac", "--key-id", k, "--message", f"fileb://{write(f'hmac{bits}.msg', msg)}",
                       "--mac-algorithm", f"HMAC_SHA_{bits}")["Mac"])
        check(mac == openssl_hmac(bits, material, msg), f"HMAC_{bits} differs from openssl's")
        st["macs"].append([k, bits, material.hex(), mac.hex()])
    # A key made here (material never leaves KMS): generate, verify, refuse a changed MAC.
    k = key("--key-spec", "HMAC_384", "--key-usage", "GENERATE_VERIFY_MAC")
    mac = b64d(kms("generate-mac", "--key-id", k, "--message", f"fileb://{path('hmac384.msg')}",
                   "--mac-algorithm", "HMAC_SHA_384")["Mac"])
    out = kms("verify-mac", "--key-id", k, "--message", f"fileb://{path('hmac384.msg')}",
              "--mac-algorithm", "HMAC_SHA_384", "--mac", f"fileb://{write('own.mac', mac)}")
    check(out["MacValid"] is True, out)
    kms_fails("KMSInvalidMacException", "verify-mac", "--key-id", k, "--message",
              f"fileb://{path('hmac384.msg')}", "--mac-algorithm", "HMAC_SHA_384",
              "--mac", f"fileb://{write('bad.mac', bytes(48))}")
    # Delete imported material: the key waits for material again.
    k = st["macs"][0][0]
    kms("delete-imported-key-material", "--key-id", k)
    check(kms("describe-key", "--key-id", k)["KeyMetadata"]["KeyState"] == "PendingImport", "deleted")
    import_material(k, bytes.fromhex(st["macs"][0][2]), "RSAES_OAEP_SHA_256", "hmac224-again")


def prepare_pairs_and_agreement(st):
    sym = st["sym"]
    pair = kms("generate-data-key-pair", "--key-id", sym, "--key-pair-spec", "ECC_NIST_P256")
    check(der_public_of_private(b64d(pair["PrivateKeyPlaintext"]), "pair") == b64d(pair["PublicKey"]),
          "the data key pair's halves do not match")
    write("pair.bin", b64d(pair["PrivateKeyCiphertextBlob"]))
    wp = kms("generate-data-key-pair-without-plaintext", "--key-id", sym, "--key-pair-spec", "RSA_2048",
             "--encryption-context", "pair=rsa")
    check("PrivateKeyPlaintext" not in wp, wp)
    write("pair-wp.bin", b64d(wp["PrivateKeyCiphertextBlob"]))
    private = kms_decrypt(path("pair-wp.bin"), "pair=rsa")
    check(der_public_of_private(private, "pair-wp") == b64d(wp["PublicKey"]), "pair without plaintext")
    st["pair_pub"] = pair["PublicKey"]
    # An Ed25519 pair: openssl reads the private key (RFC 8410 PKCS#8) and derives the public one.
    ed = kms("generate-data-key-pair", "--key-id", sym, "--key-pair-spec", "ECC_NIST_EDWARDS25519")
    check(der_public_of_private(b64d(ed["PrivateKeyPlaintext"]), "pair-ed") == b64d(ed["PublicKey"]),
          "the Ed25519 data key pair's halves do not match")
    # ECDH: KMS's shared secret is openssl's.
    ak = key("--key-spec", "ECC_NIST_P384", "--key-usage", "KEY_AGREEMENT")
    kms_pem = public_pem(ak, "agree")
    rc, _, err = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384",
                         "-out", path("mine.pem"))
    check(rc == 0, err)
    rc, mine_der, err = openssl("pkey", "-in", path("mine.pem"), "-pubout", "-outform", "DER")
    check(rc == 0, err)
    shared = b64d(kms("derive-shared-secret", "--key-id", ak, "--key-agreement-algorithm", "ECDH",
                      "--public-key", f"fileb://{write('mine.der', mine_der)}")["SharedSecret"])
    rc, theirs, err = openssl("pkeyutl", "-derive", "-inkey", path("mine.pem"), "-peerkey", kms_pem)
    check(rc == 0 and shared == theirs, f"ECDH differs from openssl's: {err}")
    st["agree"] = ak
    u = kms("get-key-last-usage", "--key-id", ak)
    check(u["KeyLastUsage"]["Operation"] == "DeriveSharedSecret", u)


def wait_connected(store_id):
    """Poll until the store is CONNECTED (it connects 2 seconds after ConnectCustomKeyStore)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = kms("describe-custom-key-stores", "--custom-key-store-id", store_id)["CustomKeyStores"][0]
        if s["ConnectionState"] == "CONNECTED":
            return s
        check(s["ConnectionState"] == "CONNECTING", s)
        time.sleep(0.2)
    raise AssertionError("the custom key store did not connect within 60 seconds")


def prepare_stores_and_regions(st):
    cert = "-----BEGIN CERTIFICATE-----"
    sid = kms("create-custom-key-store", "--custom-key-store-name", "cli-hsm", "--cloud-hsm-cluster-id",
              "cluster-1234567890b", "--trust-anchor-certificate", cert,
              "--key-store-password", "kmsuser-pass")["CustomKeyStoreId"]
    kms("connect-custom-key-store", "--custom-key-store-id", sid)
    wait_connected(sid)
    hk = key("--custom-key-store-id", sid, "--origin", "AWS_CLOUDHSM")
    out = kms("encrypt", "--key-id", hk, "--plaintext", f"fileb://{path('sym.plain')}")
    write("hsm.bin", b64d(out["CiphertextBlob"]))
    # A second store: renamed while disconnected, then deleted.
    sid2 = kms("create-custom-key-store", "--custom-key-store-name", "cli-hsm-2", "--cloud-hsm-cluster-id",
               "cluster-1234567890c", "--trust-anchor-certificate", cert,
               "--key-store-password", "kmsuser-pass")["CustomKeyStoreId"]
    kms("connect-custom-key-store", "--custom-key-store-id", sid2)
    kms_fails("CustomKeyStoreInvalidStateException", "update-custom-key-store", "--custom-key-store-id",
              sid2, "--new-custom-key-store-name", "cli-hsm-renamed")
    kms("disconnect-custom-key-store", "--custom-key-store-id", sid2)
    kms("update-custom-key-store", "--custom-key-store-id", sid2, "--new-custom-key-store-name",
        "cli-hsm-renamed")
    names = [s["CustomKeyStoreName"] for s in kms("describe-custom-key-stores")["CustomKeyStores"]]
    check(sorted(names) == ["cli-hsm", "cli-hsm-renamed"], names)
    kms("delete-custom-key-store", "--custom-key-store-id", sid2)
    kms_fails("CustomKeyStoreNotFoundException", "describe-custom-key-stores",
              "--custom-key-store-id", sid2)
    st["store"] = [sid, hk]
    # A Multi-Region key, its replica, and the primary moved to the replica's Region.
    mk = key("--multi-region", "--description", "cli mrk")
    rep = kms("replicate-key", "--key-id", mk, "--replica-region", "eu-west-1")["ReplicaKeyMetadata"]
    check(rep["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA", rep)
    out = kms("encrypt", "--key-id", mk, "--plaintext", f"fileb://{path('sym.plain')}")
    write("mrk.bin", b64d(out["CiphertextBlob"]))
    kms("update-primary-region", "--key-id", mk, "--primary-region", "eu-west-1")
    cfg = kms("describe-key", "--key-id", mk, region="eu-west-1")["KeyMetadata"]["MultiRegionConfiguration"]
    check(cfg["MultiRegionKeyType"] == "PRIMARY" and cfg["ReplicaKeys"][0]["Region"] == "us-east-1", cfg)
    st["mrk"] = mk


def prepare():
    if os.path.exists(path("cli-ops.txt")):
        os.remove(path("cli-ops.txt"))
    st = {}
    prepare_symmetric(st)
    prepare_grants(st)
    prepare_lifecycle(st)
    prepare_signatures(st)
    prepare_rsa_encryption(st)
    prepare_macs(st)
    prepare_pairs_and_agreement(st)
    prepare_stores_and_regions(st)
    with open(STATE, "w") as f:
        json.dump(st, f)
    print("prepared")


def check_after_restart():
    with open(STATE) as f:
        st = json.load(f)
    check(kms_decrypt(path("sym.bin"), "app=cli,stage=test") == b"the cli secret",
          "the context-bound ciphertext after the restart")
    kms_fails("InvalidCiphertextException", "decrypt", "--ciphertext-blob", f"fileb://{path('sym.bin')}")
    check(kms_decrypt(path("dk.bin")) == b64d(st["dk"]), "data key")
    check(len(kms_decrypt(path("wp.bin"), "use=wp")) == 24, "data key without plaintext")
    check(kms_decrypt(path("re.bin"), "to=other") == b"the cli secret", "re-encrypted")
    check(kms_decrypt(path("granted.bin")) == b"the cli secret", "granted")
    check(der_public_of_private(kms_decrypt(path("pair.bin")), "pair2") == b64d(st["pair_pub"]), "pair")
    # Rotation, tags, aliases, grants.
    check(len(kms("list-key-rotations", "--key-id", st["sym"])["Rotations"]) == 1, "rotations")
    check(kms("get-key-rotation-status", "--key-id", st["sym"])["RotationPeriodInDays"] == 90, "period")
    tags = kms("list-resource-tags", "--key-id", st["sym"])["Tags"]
    check(sorted(t["TagKey"] for t in tags) == ["stage", "team"], tags)
    names = {a["AliasName"]: a.get("TargetKeyId") for a in kms("list-aliases")["Aliases"]}
    check(names.get("alias/cli-moving") == st["other"] and "alias/cli-deleted" not in names, names)
    grants = kms("list-grants", "--key-id", st["sym"])["Grants"]
    check([g["GrantId"] for g in grants] == [st["grant"]] and grants[0]["Name"] == "cli-kept", grants)
    pend, at = st["pending"]
    meta = kms("describe-key", "--key-id", pend)["KeyMetadata"]
    check(meta["KeyState"] == "PendingDeletion" and abs(epoch(meta["DeletionDate"]) - at) < 1, meta)
    # The openssl ciphertexts made before, and a new one, decrypt.
    for md, alg in [("sha256", "RSAES_OAEP_SHA_256"), ("sha1", "RSAES_OAEP_SHA_1")]:
        again = openssl_oaep(public_pem(st["rsa"], "rsa-enc2"), b"made by openssl again", "oaep2-" + md, md)
        for blob in [path(f"oaep-{md}.bin"), again]:
            out = kms("decrypt", "--key-id", st["rsa"], "--ciphertext-blob", f"fileb://{blob}",
                      "--encryption-algorithm", alg)
            check(b64d(out["Plaintext"]).startswith(b"made by openssl"), blob)
    out = kms("decrypt", "--key-id", st["rsa"], "--ciphertext-blob", f"fileb://{path('kms-oaep1.bin')}",
              "--encryption-algorithm", "RSAES_OAEP_SHA_1")
    check(b64d(out["Plaintext"]) == b"the cli secret", "KMS's own OAEP ciphertext")
    # Signatures made before the restart verify with openssl (same public key) and with KMS.
    pems = {}
    for k, alg, name in st["sigs"]:
        if k not in pems:
            pems[k] = public_pem(k, f"after-{len(pems)}")
        openssl_verify(pems[k], name, alg)
        if name.endswith("-raw") or alg.endswith("_512"):
            kms_verify(k, name, alg)
    # MACs: the imported material still gives openssl's MAC.
    for k, bits, material, mac in st["macs"]:
        out = kms("verify-mac", "--key-id", k, "--message", f"fileb://{path(f'hmac{bits}.msg')}",
                  "--mac-algorithm", f"HMAC_SHA_{bits}", "--mac", f"fileb://{write('m.mac', bytes.fromhex(mac))}")
        check(out["MacValid"] is True, (bits, out))
        check(openssl_hmac(bits, bytes.fromhex(material), C.read(f"hmac{bits}.msg")) == bytes.fromhex(mac), bits)
    kms_fails("DisabledException", "encrypt", "--key-id", st["off"], "--plaintext", "fileb://" + path("sym.plain"))
    # The custom key store reconnects; its key decrypts. The Multi-Region key's primary moved.
    sid, hk = st["store"]
    wait_connected(sid)
    check(kms_decrypt(path("hsm.bin")) == b"the cli secret", "hsm key")
    cfg = kms("describe-key", "--key-id", st["mrk"])["KeyMetadata"]["MultiRegionConfiguration"]
    check(cfg["MultiRegionKeyType"] == "REPLICA" and cfg["PrimaryKey"]["Region"] == "eu-west-1", cfg)
    check(b64d(kms("decrypt", "--ciphertext-blob", f"fileb://{path('mrk.bin')}",
                   region="eu-west-1")["Plaintext"]) == b"the cli secret", "mrk in eu-west-1")
    n = C.coverage("kms")
    print(f"checked; all {n} KMS operations driven through the AWS CLI")


if CMD == "prepare":
    prepare()
elif CMD == "check":
    check_after_restart()
else:
    sys.exit(f"unknown command {CMD}")
