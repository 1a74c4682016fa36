#!/usr/bin/env python3
"""Drive a running snapstack's KMS with boto3, and check its cryptography with `cryptography`.

Usage: kms_client.py ENDPOINT COMMAND [ARGS]...

  prepare STATE   keys of every kind; ciphertexts, data keys, signatures, MACs, a locally made
                  RSA-OAEP ciphertext, a rotation, a scheduled deletion; what to check to STATE
  check STATE     after a restart: every ciphertext decrypts, every signature verifies, the
                  rotation and the deletion deadline are kept
  prepare_more STATE / check_more STATE
                  imported key material (wrapped here by `cryptography`), a custom key store,
                  a Multi-Region key and its replica, ECDH key agreement, last usage
"""

import base64
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]


def kms(region="us-east-1"):
    return boto3.client("kms", endpoint_url=ENDPOINT, region_name=region,
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


def wrap(public_der, alg, material):
    """Wrap key material for ImportKeyMaterial as AWS's documentation does (openssl's recipe)."""
    pub = serialization.load_der_public_key(public_der)
    h = hashes.SHA256() if alg.endswith("_256") else hashes.SHA1()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if alg.startswith("RSAES_OAEP"):
        return pub.encrypt(material, oaep)
    aes = os.urandom(32)
    return pub.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def wait_connected(c, sid):
    for _ in range(100):
        st = c.describe_custom_key_stores(CustomKeyStoreId=sid)["CustomKeyStores"][0]["ConnectionState"]
        if st == "CONNECTED":
            return
        check(st == "CONNECTING", st)
        time.sleep(0.1)
    raise AssertionError("the custom key store did not connect")


def cmd_prepare_more(path):
    c = kms()
    state = {}
    # Imported key material, with each wrapping algorithm.
    state["imported"] = []
    for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]:
        k = c.create_key(Origin="EXTERNAL")["KeyMetadata"]
        check(k["KeyState"] == "PendingImport" and k["Origin"] == "EXTERNAL", k)
        kid = k["KeyId"]
        params = c.get_parameters_for_import(KeyId=kid, WrappingAlgorithm=alg, WrappingKeySpec="RSA_2048")
        material = os.urandom(32)
        expect_error("InvalidCiphertextException", c.import_key_material, KeyId=kid,
                     ImportToken=params["ImportToken"], EncryptedKeyMaterial=b"\x01" * 256)
        c.import_key_material(KeyId=kid, ImportToken=params["ImportToken"],
                              EncryptedKeyMaterial=wrap(params["PublicKey"], alg, material),
                              ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        meta = c.describe_key(KeyId=kid)["KeyMetadata"]
        check(meta["KeyState"] == "Enabled" and meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE", meta)
        blob = c.encrypt(KeyId=kid, Plaintext=b"imported " + alg.encode())["CiphertextBlob"]
        state["imported"].append([kid, base64.b64encode(blob).decode(), "imported " + alg,
                                  base64.b64encode(material).decode()])
    # Delete the material of one, then import it again: its ciphertext decrypts again.
    kid, blob, plain, material = state["imported"][0]
    c.delete_imported_key_material(KeyId=kid)
    check(c.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport", "deleted material")
    expect_error("KMSInvalidStateException", c.decrypt, CiphertextBlob=base64.b64decode(blob))
    params = c.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                         WrappingKeySpec="RSA_3072")
    expect_error("IncorrectKeyMaterialException", c.import_key_material, KeyId=kid,
                 ImportToken=params["ImportToken"],
                 EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)))
    c.import_key_material(KeyId=kid, ImportToken=params["ImportToken"],
                          EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256",
                                                    base64.b64decode(material)))
    check(c.decrypt(CiphertextBlob=base64.b64decode(blob))["Plaintext"] == plain.encode(), "re-imported")
    # Material that expires.
    kid = c.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = c.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    valid_to = int(time.time()) + 30 * 86400
    c.import_key_material(KeyId=kid, ImportToken=params["ImportToken"],
                          EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32)),
                          ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    state["expiring"] = [kid, valid_to]
    # A custom key store: connecting takes a moment; its keys work while it is connected.
    sid = c.create_custom_key_store(CustomKeyStoreName="e2e-hsm", CloudHsmClusterId="cluster-1234567890a",
                                    TrustAnchorCertificate="-----BEGIN CERTIFICATE-----",
                                    KeyStorePassword="kmsuser-pass")["CustomKeyStoreId"]
    expect_error("CustomKeyStoreInvalidStateException", c.create_key, CustomKeyStoreId=sid, Origin="AWS_CLOUDHSM")
    c.connect_custom_key_store(CustomKeyStoreId=sid)
    wait_connected(c, sid)
    hk = c.create_key(CustomKeyStoreId=sid, Origin="AWS_CLOUDHSM")["KeyMetadata"]
    check(hk["CustomKeyStoreId"] == sid and hk["CloudHsmClusterId"] == "cluster-1234567890a", hk)
    hblob = c.encrypt(KeyId=hk["KeyId"], Plaintext=b"in the hsm")["CiphertextBlob"]
    state["store"] = [sid, hk["KeyId"], base64.b64encode(hblob).decode()]
    # A Multi-Region key and its replica: the primary's ciphertext decrypts in the replica's Region.
    mk = c.create_key(MultiRegion=True, Description="mrk")["KeyMetadata"]
    check(mk["KeyId"].startswith("mrk-") and mk["MultiRegion"], mk)
    rep = c.replicate_key(KeyId=mk["KeyId"], ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    check(rep["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA", rep)
    mblob = c.encrypt(KeyId=mk["KeyId"], Plaintext=b"multi-region")["CiphertextBlob"]
    west = kms("eu-west-1")
    check(west.decrypt(CiphertextBlob=mblob)["Plaintext"] == b"multi-region", "replica decrypt")
    state["mrk"] = [mk["KeyId"], base64.b64encode(mblob).decode()]
    # ECDH: KMS's shared secret is the one `cryptography` derives from KMS's public key.
    ak = c.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    check(ak["KeyAgreementAlgorithms"] == ["ECDH"], ak)
    mine = ec.generate_private_key(ec.SECP256R1())
    mine_pub = mine.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    shared = c.derive_shared_secret(KeyId=ak["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=mine_pub)["SharedSecret"]
    theirs = serialization.load_der_public_key(c.get_public_key(KeyId=ak["KeyId"])["PublicKey"])
    check(shared == mine.exchange(ec.ECDH(), theirs), "ecdh")
    state["ecdh"] = [ak["KeyId"], base64.b64encode(mine.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())).decode()]
    # Last usage.
    u = c.get_key_last_usage(KeyId=ak["KeyId"])
    check(u["KeyLastUsage"]["Operation"] == "DeriveSharedSecret", u)
    state["used"] = mk["KeyId"]
    with open(path, "w") as f:
        json.dump(state, f)


def cmd_check_more(path):
    c = kms()
    with open(path) as f:
        state = json.load(f)
    for kid, blob, plain, _ in state["imported"]:
        out = c.decrypt(CiphertextBlob=base64.b64decode(blob))
        check(out["Plaintext"] == plain.encode(), (kid, out))
    kid, valid_to = state["expiring"]
    meta = c.describe_key(KeyId=kid)["KeyMetadata"]
    check(meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and int(meta["ValidTo"].timestamp()) == valid_to, meta)
    sid, hk, hblob = state["store"]
    wait_connected(c, sid)
    check(c.decrypt(CiphertextBlob=base64.b64decode(hblob))["Plaintext"] == b"in the hsm", "hsm key")
    c.disconnect_custom_key_store(CustomKeyStoreId=sid)
    check(c.describe_key(KeyId=hk)["KeyMetadata"]["KeyState"] == "Unavailable", "unavailable")
    expect_error("KMSInvalidStateException", c.decrypt, CiphertextBlob=base64.b64decode(hblob))
    expect_error("CustomKeyStoreHasCMKsException", c.delete_custom_key_store, CustomKeyStoreId=sid)
    c.connect_custom_key_store(CustomKeyStoreId=sid)
    mk, mblob = state["mrk"]
    west = kms("eu-west-1")
    check(west.decrypt(CiphertextBlob=base64.b64decode(mblob))["Plaintext"] == b"multi-region", "replica")
    cfg = west.describe_key(KeyId=mk)["KeyMetadata"]["MultiRegionConfiguration"]
    check(cfg["PrimaryKey"]["Region"] == "us-east-1" and cfg["ReplicaKeys"][0]["Region"] == "eu-west-1", cfg)
    ak, mine = state["ecdh"]
    mine = serialization.load_der_private_key(base64.b64decode(mine), None)
    mine_pub = mine.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    shared = c.derive_shared_secret(KeyId=ak, KeyAgreementAlgorithm="ECDH", PublicKey=mine_pub)["SharedSecret"]
    theirs = serialization.load_der_public_key(c.get_public_key(KeyId=ak)["PublicKey"])
    check(shared == mine.exchange(ec.ECDH(), theirs), "ecdh after restart")
    u = c.get_key_last_usage(KeyId=state["used"])
    check("TrackingStartDate" in u, u)


COMMANDS = {"prepare": cmd_prepare, "check": cmd_check,
            "prepare_more": cmd_prepare_more, "check_more": cmd_check_more}

if __name__ == "__main__":
    COMMANDS[ARGS[0]](*ARGS[1:])
    print("ok")
