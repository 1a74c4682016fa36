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
  prepare_ops STATE / check_ops STATE
                  the remaining operations: grants (created, listed, retired, revoked; a grant
                  token used on Encrypt/Decrypt, a malformed one refused; one grant kept across
                  the restart), data keys without plaintext, data key pairs (checked with
                  `cryptography`), GenerateRandom, key policies, rotation status, ListKeys,
                  cancelled deletion, alias update and deletion, descriptions, untagging, custom
                  key store update, primary Region change
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
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
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
    if alg == "ED25519_SHA_512":
        check(isinstance(pub, ed25519.Ed25519PublicKey), pub)
        pub.verify(signature, message)
        return
    if alg == "ED25519_PH_SHA_512":
        # `cryptography` has no Ed25519ph: KMS's Verify checks these (and the unit tests hold
        # the signing path to RFC 8032's test vector).
        return
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
    rsa_algs = [f"RSASSA_{pad}_SHA_{n}" for pad in ["PKCS1_V1_5", "PSS"] for n in [256, 384, 512]]
    for spec, algs in [("ECC_NIST_P256", ["ECDSA_SHA_256"]), ("ECC_NIST_P384", ["ECDSA_SHA_384"]),
                       ("ECC_NIST_P521", ["ECDSA_SHA_512"]), ("ECC_SECG_P256K1", ["ECDSA_SHA_256"]),
                       ("RSA_2048", rsa_algs), ("RSA_3072", rsa_algs), ("RSA_4096", rsa_algs)]:
        k = c.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        got = c.get_public_key(KeyId=k)
        pub = got["PublicKey"]
        check(sorted(got["SigningAlgorithms"]) == sorted(algs), got)
        for alg in algs:
            msg = f"message for {spec} {alg}".encode()
            sig = c.sign(KeyId=k, Message=msg, SigningAlgorithm=alg)["Signature"]
            verify_locally(pub, alg, msg, sig)
            check(c.verify(KeyId=k, Message=msg, Signature=sig, SigningAlgorithm=alg)["SignatureValid"], alg)
            expect_error("KMSInvalidSignatureException", c.verify, KeyId=k, Message=msg + b"!",
                         Signature=sig, SigningAlgorithm=alg)
            state["sigs"].append([k, alg, base64.b64encode(msg).decode(), base64.b64encode(sig).decode()])
            # DIGEST: KMS signs the hash `cryptography` made; the signature is one of the message.
            h = hashes.Hash(HASHES[alg[-3:]]())
            h.update(msg)
            dsig = c.sign(KeyId=k, Message=h.finalize(), MessageType="DIGEST", SigningAlgorithm=alg)["Signature"]
            verify_locally(pub, alg, msg, dsig)
            state["sigs"].append([k, alg, base64.b64encode(msg).decode(), base64.b64encode(dsig).decode()])
    # Ed25519: pure signatures verified by `cryptography`; Ed25519ph over RAW and DIGEST.
    k = c.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    check(k["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"], k)
    pub = c.get_public_key(KeyId=k["KeyId"])["PublicKey"]
    msg = b"message for Ed25519"
    sig = c.sign(KeyId=k["KeyId"], Message=msg, SigningAlgorithm="ED25519_SHA_512")["Signature"]
    verify_locally(pub, "ED25519_SHA_512", msg, sig)
    state["sigs"].append([k["KeyId"], "ED25519_SHA_512", base64.b64encode(msg).decode(),
                          base64.b64encode(sig).decode()])
    expect_error("ValidationException", c.sign, KeyId=k["KeyId"], Message=b"\0" * 64, MessageType="DIGEST",
                 SigningAlgorithm="ED25519_SHA_512")
    h = hashes.Hash(hashes.SHA512())
    h.update(msg)
    ph = c.sign(KeyId=k["KeyId"], Message=h.finalize(), MessageType="DIGEST",
                SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
    check(c.verify(KeyId=k["KeyId"], Message=msg, Signature=ph, SigningAlgorithm="ED25519_PH_SHA_512")
          ["SignatureValid"], "Ed25519ph of a digest verifies as the message's")
    expect_error("KMSInvalidSignatureException", c.verify, KeyId=k["KeyId"], Message=msg, Signature=ph,
                 SigningAlgorithm="ED25519_SHA_512")
    state["sigs"].append([k["KeyId"], "ED25519_PH_SHA_512", base64.b64encode(msg).decode(),
                          base64.b64encode(ph).decode()])
    # RSA encryption: encrypt locally with the public key, decrypt through KMS.
    rk = c.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    pub = serialization.load_der_public_key(c.get_public_key(KeyId=rk)["PublicKey"])
    local = pub.encrypt(b"made by cryptography", padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    out = c.decrypt(CiphertextBlob=local, KeyId=rk, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    check(out["Plaintext"] == b"made by cryptography", out)
    state["rsa"] = [rk, base64.b64encode(local).decode()]
    expect_error("InvalidKeyUsageException", c.encrypt, KeyId=rk, Plaintext=b"x")
    # HMAC of every size.
    for bits in [224, 256, 384, 512]:
        alg = f"HMAC_SHA_{bits}"
        hk = c.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        mac = c.generate_mac(KeyId=hk, Message=b"mac me", MacAlgorithm=alg)["Mac"]
        check(len(mac) == bits // 8, mac)
        check(c.verify_mac(KeyId=hk, Message=b"mac me", MacAlgorithm=alg, Mac=mac)["MacValid"], alg)
        expect_error("KMSInvalidMacException", c.verify_mac, KeyId=hk, Message=b"mac me!",
                     MacAlgorithm=alg, Mac=mac)
        other = "HMAC_SHA_512" if bits != 512 else "HMAC_SHA_224"
        expect_error("InvalidKeyUsageException", c.generate_mac, KeyId=hk, Message=b"x", MacAlgorithm=other)
        state["macs"].append([hk, alg, base64.b64encode(mac).decode()])
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
    for hk, alg, mac in state["macs"]:
        check(c.verify_mac(KeyId=hk, Message=b"mac me", MacAlgorithm=alg,
                           Mac=base64.b64decode(mac))["MacValid"], alg)
        check(c.generate_mac(KeyId=hk, Message=b"mac me", MacAlgorithm=alg)["Mac"] == base64.b64decode(mac), alg)
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


GRANTEE = "arn:aws:iam::000000000000:role/grantee"
RETIREE = "arn:aws:iam::000000000000:role/retiree"


def public_of_private(der):
    priv = serialization.load_der_private_key(der, None)
    return priv.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def cmd_prepare_ops(path):
    c = kms()
    state = {}
    kid = c.create_key(Description="ops", Tags=[{"TagKey": "a", "TagValue": "1"},
                                                {"TagKey": "b", "TagValue": "2"}])["KeyMetadata"]["KeyId"]
    state["kid"] = kid
    # Grants: a token makes the grant usable at once; a malformed token is refused.
    g1 = c.create_grant(KeyId=kid, GranteePrincipal=GRANTEE, RetiringPrincipal=RETIREE,
                        Operations=["Encrypt", "Decrypt"], Name="kept",
                        Constraints={"EncryptionContextEquals": {"app": "ops"}})
    blob = c.encrypt(KeyId=kid, Plaintext=b"granted", EncryptionContext={"app": "ops"},
                     GrantTokens=[g1["GrantToken"]])["CiphertextBlob"]
    out = c.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "ops"}, GrantTokens=[g1["GrantToken"]])
    check(out["Plaintext"] == b"granted", out)
    for bad in ["x", "not a grant token", g1["GrantToken"][:-4]]:
        expect_error("InvalidGrantTokenException", c.decrypt, CiphertextBlob=blob,
                     EncryptionContext={"app": "ops"}, GrantTokens=[bad])
        expect_error("InvalidGrantTokenException", c.encrypt, KeyId=kid, Plaintext=b"x", GrantTokens=[bad])
    # The same name and parameters: the same grant (an idempotent retry).
    again = c.create_grant(KeyId=kid, GranteePrincipal=GRANTEE, RetiringPrincipal=RETIREE,
                           Operations=["Encrypt", "Decrypt"], Name="kept",
                           Constraints={"EncryptionContextEquals": {"app": "ops"}})
    check(again["GrantId"] == g1["GrantId"], again)
    g2 = c.create_grant(KeyId=kid, GranteePrincipal=GRANTEE, RetiringPrincipal=RETIREE,
                        Operations=["Decrypt"])
    g3 = c.create_grant(KeyId=kid, GranteePrincipal="arn:aws:iam::000000000000:role/other",
                        Operations=["GenerateDataKey"])
    grants = c.list_grants(KeyId=kid)["Grants"]
    check({g["GrantId"] for g in grants} == {g1["GrantId"], g2["GrantId"], g3["GrantId"]}, grants)
    mine = c.list_grants(KeyId=kid, GranteePrincipal=GRANTEE)["Grants"]
    check({g["GrantId"] for g in mine} == {g1["GrantId"], g2["GrantId"]}, mine)
    page = c.list_grants(KeyId=kid, Limit=1)
    check(len(page["Grants"]) == 1 and page["Truncated"] and page["NextMarker"], page)
    ret = c.list_retirable_grants(RetiringPrincipal=RETIREE)["Grants"]
    check({g["GrantId"] for g in ret} == {g1["GrantId"], g2["GrantId"]}, ret)
    c.retire_grant(GrantToken=g2["GrantToken"])
    expect_error("InvalidGrantTokenException", c.retire_grant, GrantToken=g2["GrantToken"])
    c.revoke_grant(KeyId=kid, GrantId=g3["GrantId"])
    expect_error("InvalidGrantIdException", c.revoke_grant, KeyId=kid, GrantId=g3["GrantId"])
    state["grant"] = [g1["GrantId"], g1["GrantToken"], base64.b64encode(blob).decode()]
    # Data keys without plaintext; data key pairs checked with `cryptography`.
    wp = c.generate_data_key_without_plaintext(KeyId=kid, NumberOfBytes=48, EncryptionContext={"dk": "wp"})
    check("Plaintext" not in wp, wp)
    check(len(c.decrypt(CiphertextBlob=wp["CiphertextBlob"], EncryptionContext={"dk": "wp"})["Plaintext"]) == 48,
          "data key without plaintext")
    state["blobs"] = [base64.b64encode(wp["CiphertextBlob"]).decode()]
    state["pairs"] = []
    for spec in ["RSA_2048", "ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]:
        pair = c.generate_data_key_pair(KeyId=kid, KeyPairSpec=spec)
        check(public_of_private(pair["PrivateKeyPlaintext"]) == pair["PublicKey"], spec)
        priv = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
        check(c.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] ==
              pair["PrivateKeyPlaintext"], spec)
        pub = serialization.load_der_public_key(pair["PublicKey"])
        if spec == "ECC_NIST_EDWARDS25519":
            pub.verify(priv.sign(b"pair"), b"pair")
        elif spec.startswith("ECC"):
            sig = priv.sign(b"pair", ec.ECDSA(hashes.SHA256()))
            pub.verify(sig, b"pair", ec.ECDSA(hashes.SHA256()))
        wpp = c.generate_data_key_pair_without_plaintext(KeyId=kid, KeyPairSpec=spec,
                                                         EncryptionContext={"pair": spec})
        check("PrivateKeyPlaintext" not in wpp and wpp["KeyPairSpec"] == spec, wpp)
        state["pairs"].append([base64.b64encode(wpp["PrivateKeyCiphertextBlob"]).decode(),
                               base64.b64encode(wpp["PublicKey"]).decode(), spec])
    expect_error("InvalidKeyUsageException", c.generate_data_key_pair,
                 KeyId=c.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"],
                 KeyPairSpec="RSA_2048")
    r = c.generate_random(NumberOfBytes=64)["Plaintext"]
    check(len(r) == 64 and r != c.generate_random(NumberOfBytes=64)["Plaintext"], "random")
    # Key policies.
    check(c.list_key_policies(KeyId=kid)["PolicyNames"] == ["default"], "policy names")
    pol = json.loads(c.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    pol["Statement"].append({"Sid": "ops", "Effect": "Allow", "Principal": {"AWS": GRANTEE},
                             "Action": "kms:Encrypt", "Resource": "*"})
    c.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps(pol))
    expect_error("MalformedPolicyDocumentException", c.put_key_policy, KeyId=kid, PolicyName="default",
                 Policy="[")
    # Rotation status.
    check(c.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False, "off")
    c.enable_key_rotation(KeyId=kid, RotationPeriodInDays=180)
    rs = c.get_key_rotation_status(KeyId=kid)
    check(rs["KeyRotationEnabled"] and rs["RotationPeriodInDays"] == 180 and "NextRotationDate" in rs, rs)
    rk2 = c.create_key()["KeyMetadata"]["KeyId"]
    c.enable_key_rotation(KeyId=rk2)
    c.disable_key_rotation(KeyId=rk2)
    check(c.get_key_rotation_status(KeyId=rk2)["KeyRotationEnabled"] is False, "disabled")
    # ListKeys with pages.
    ids = []
    marker = None
    while True:
        page = c.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        ids += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    check(kid in ids and rk2 in ids and len(ids) == len(set(ids)), ids)
    # A cancelled deletion leaves the key disabled.
    c.schedule_key_deletion(KeyId=rk2, PendingWindowInDays=7)
    c.cancel_key_deletion(KeyId=rk2)
    meta = c.describe_key(KeyId=rk2)["KeyMetadata"]
    check(meta["KeyState"] == "Disabled" and "DeletionDate" not in meta, meta)
    expect_error("KMSInvalidStateException", c.cancel_key_deletion, KeyId=rk2)
    # Aliases, description, tags.
    c.create_alias(AliasName="alias/ops", TargetKeyId=kid)
    c.update_alias(AliasName="alias/ops", TargetKeyId=rk2)
    check(c.describe_key(KeyId="alias/ops")["KeyMetadata"]["KeyId"] == rk2, "updated alias")
    c.create_alias(AliasName="alias/ops-gone", TargetKeyId=kid)
    c.delete_alias(AliasName="alias/ops-gone")
    expect_error("NotFoundException", c.describe_key, KeyId="alias/ops-gone")
    c.update_key_description(KeyId=kid, Description="ops, described again")
    c.untag_resource(KeyId=kid, TagKeys=["a"])
    check(c.list_resource_tags(KeyId=kid)["Tags"] == [{"TagKey": "b", "TagValue": "2"}], "untagged")
    state["rk2"] = rk2
    # A custom key store renamed while disconnected.
    sid = c.create_custom_key_store(CustomKeyStoreName="ops-hsm", CloudHsmClusterId="cluster-1234567890d",
                                    TrustAnchorCertificate="-----BEGIN CERTIFICATE-----",
                                    KeyStorePassword="kmsuser-pass")["CustomKeyStoreId"]
    c.update_custom_key_store(CustomKeyStoreId=sid, NewCustomKeyStoreName="ops-hsm-renamed",
                              KeyStorePassword="kmsuser-pass-2")
    s = c.describe_custom_key_stores(CustomKeyStoreId=sid)["CustomKeyStores"][0]
    check(s["CustomKeyStoreName"] == "ops-hsm-renamed", s)
    state["store"] = sid
    # UpdatePrimaryRegion: the replica becomes the primary.
    mk = c.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    c.replicate_key(KeyId=mk, ReplicaRegion="ap-southeast-2")
    mblob = c.encrypt(KeyId=mk, Plaintext=b"moving primary")["CiphertextBlob"]
    c.update_primary_region(KeyId=mk, PrimaryRegion="ap-southeast-2")
    expect_error("UnsupportedOperationException", c.update_primary_region, KeyId=mk, PrimaryRegion="us-east-1")
    cfg = kms("ap-southeast-2").describe_key(KeyId=mk)["KeyMetadata"]["MultiRegionConfiguration"]
    check(cfg["MultiRegionKeyType"] == "PRIMARY", cfg)
    state["mrk"] = [mk, base64.b64encode(mblob).decode()]
    with open(path, "w") as f:
        json.dump(state, f)


def cmd_check_ops(path):
    c = kms()
    with open(path) as f:
        state = json.load(f)
    kid = state["kid"]
    gid, token, blob = state["grant"]
    grants = c.list_grants(KeyId=kid)["Grants"]
    check([g["GrantId"] for g in grants] == [gid], grants)
    g = grants[0]
    check(g["Name"] == "kept" and sorted(g["Operations"]) == ["Decrypt", "Encrypt"] and
          g["Constraints"] == {"EncryptionContextEquals": {"app": "ops"}} and
          g["RetiringPrincipal"] == RETIREE, g)
    check([x["GrantId"] for x in c.list_retirable_grants(RetiringPrincipal=RETIREE)["Grants"]] == [gid], "retirable")
    out = c.decrypt(CiphertextBlob=base64.b64decode(blob), EncryptionContext={"app": "ops"}, GrantTokens=[token])
    check(out["Plaintext"] == b"granted", out)
    for b in state["blobs"]:
        check(len(c.decrypt(CiphertextBlob=base64.b64decode(b), EncryptionContext={"dk": "wp"})["Plaintext"]) == 48, b)
    for b, pub, spec in state["pairs"]:
        der = c.decrypt(CiphertextBlob=base64.b64decode(b), EncryptionContext={"pair": spec})["Plaintext"]
        check(public_of_private(der) == base64.b64decode(pub), spec)
    rs = c.get_key_rotation_status(KeyId=kid)
    check(rs["KeyRotationEnabled"] and rs["RotationPeriodInDays"] == 180, rs)
    pol = json.loads(c.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    check(pol["Statement"][-1]["Sid"] == "ops", pol)
    meta = c.describe_key(KeyId=kid)["KeyMetadata"]
    check(meta["Description"] == "ops, described again", meta)
    check(c.describe_key(KeyId="alias/ops")["KeyMetadata"]["KeyId"] == state["rk2"], "alias")
    check(c.describe_key(KeyId=state["rk2"])["KeyMetadata"]["KeyState"] == "Disabled", "still disabled")
    s = c.describe_custom_key_stores(CustomKeyStoreId=state["store"])["CustomKeyStores"][0]
    check(s["CustomKeyStoreName"] == "ops-hsm-renamed", s)
    mk, mblob = state["mrk"]
    check(c.describe_key(KeyId=mk)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA",
          "replica after the restart")
    syd = kms("ap-southeast-2")
    check(syd.decrypt(CiphertextBlob=base64.b64decode(mblob))["Plaintext"] == b"moving primary", "mrk")
    # The grant can still be retired after the restart.
    c.retire_grant(KeyId=kid, GrantId=gid)
    check(c.list_grants(KeyId=kid)["Grants"] == [], "retired")
    # Put it back so that a second check finds the same state.
    g = c.create_grant(KeyId=kid, GranteePrincipal=GRANTEE, RetiringPrincipal=RETIREE,
                       Operations=["Encrypt", "Decrypt"], Name="kept",
                       Constraints={"EncryptionContextEquals": {"app": "ops"}})
    state["grant"] = [g["GrantId"], g["GrantToken"], blob]
    with open(path, "w") as f:
        json.dump(state, f)


COMMANDS = {"prepare": cmd_prepare, "check": cmd_check,
            "prepare_more": cmd_prepare_more, "check_more": cmd_check_more,
            "prepare_ops": cmd_prepare_ops, "check_ops": cmd_check_ops}

if __name__ == "__main__":
    COMMANDS[ARGS[0]](*ARGS[1:])
    print("ok")
