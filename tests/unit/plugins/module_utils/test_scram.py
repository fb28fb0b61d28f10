"""SCRAM-SHA-256 and md5 verifiers (pure)."""

import base64
import hashlib
import hmac

from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import scram

# RFC 7677 section 3 example exchange.
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
RFC_CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def test_verifier_matches_rfc7677_example():
    verifier = scram.scram_verifier("pencil", salt=RFC_SALT, iterations=4096)
    iterations, salt, stored_key, server_key = scram.parse_scram(verifier)
    assert (iterations, salt) == (4096, RFC_SALT)
    # the server signature of the RFC exchange comes out of our ServerKey
    assert hmac.new(server_key, RFC_AUTH_MESSAGE, hashlib.sha256).digest() == RFC_SERVER_SIGNATURE
    # and the client proof of the RFC exchange proves knowledge of a key that hashes to our StoredKey
    signature = hmac.new(stored_key, RFC_AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(RFC_CLIENT_PROOF, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_new_verifier_format_and_random_salt():
    a = scram.scram_verifier("secret")
    b = scram.scram_verifier("secret")
    assert a != b
    assert a.startswith("SCRAM-SHA-256$4096:")
    assert len(scram.parse_scram(a)[1]) == 16
    assert scram.verify("secret", a, "anyone") and scram.verify("secret", b, "anyone")
    assert not scram.verify("Secret", a, "anyone")


def test_verify_uses_stored_salt_and_iterations():
    stored = scram.scram_verifier("pw", salt=b"0123456789abcdef", iterations=10000)
    assert scram.verify("pw", stored, "u")
    assert not scram.verify("pw2", stored, "u")


def test_md5():
    stored = scram.md5_verifier("secret", "alice")
    assert stored == "md5" + hashlib.md5(b"secretalice").hexdigest()
    assert scram.kind(stored) == "md5"
    assert scram.verify("secret", stored, "alice")
    assert not scram.verify("secret", stored, "bob")


def test_hashed_values_pass_through():
    v = scram.scram_verifier("x")
    assert scram.is_hashed(v) and scram.verifier_for(v, "u") == v
    assert scram.verify(v, v, "u") and not scram.verify(v, scram.scram_verifier("x"), "u")
    md5 = scram.md5_verifier("x", "u")
    assert scram.verifier_for(md5, "u", scram.SCRAM) == md5
    assert scram.verifier_for("x", "u", scram.MD5) == md5


def test_garbage_is_not_a_verifier():
    for value in (None, "", "plain", "SCRAM-SHA-256$x", "SCRAM-SHA-256$4096:!!$a:b", "md5xyz", "md5" + "g" * 32):
        assert scram.kind(value) is None
        assert not scram.verify("plain", value, "u")


def test_saslprep():
    assert scram.saslprep("pencil") == b"pencil"
    assert scram.saslprep("I\u00adX") == b"IX"  # soft hyphen maps to nothing
    assert scram.saslprep("\u00aa") == b"a"  # NFKC
    assert scram.saslprep("a\u2003b\u00e9") == "a b\u00e9".encode()  # non-ASCII space -> space
    assert scram.saslprep("\u00e9\x07") == "\u00e9\x07".encode()  # prohibited: used raw, like the server
    assert scram.saslprep("\u05d0a") == "\u05d0a".encode()  # bidi violation: raw
    # a verifier from a non-ASCII password verifies through the same normalisation
    stored = scram.scram_verifier("I\u00adX")
    assert scram.verify("IX", stored, "u")


PW = "Zq7" * 22  # strong enough for the fast path (is_strong)


def test_tagged_verifiers_fast_path():
    key = scram.tag_key_from("superuser-password")
    v = scram.scram_verifier(PW, tag_key=key, username="alice")
    salt = scram.parse_scram(v)[1]
    assert len(salt) == 16
    assert scram.tagged(PW, v, "alice", key)
    assert not scram.tagged(PW + "x", v, "alice", key)
    assert not scram.tagged(PW, v, "bob", key)
    assert not scram.tagged(PW, v, "alice", scram.tag_key_from("other"))
    # the verifier is a normal one: full verification agrees, with or without the key
    assert scram.verify(PW, v, "alice") and scram.verify(PW, v, "alice", key)
    assert not scram.verify(PW + "x", v, "alice", key)
    # two verifiers of the same password differ (random part of the salt)
    assert v != scram.scram_verifier(PW, tag_key=key, username="alice")


def test_untagged_verifiers_fall_back_to_pbkdf2():
    key = scram.tag_key_from("k")
    foreign = scram.scram_verifier("pw")  # random salt, e.g. written by the server
    assert not scram.tagged("pw", foreign, "u", key)
    assert scram.verify("pw", foreign, "u", key)
    assert scram.tag_key_from("") is None and scram.tag_key_from(None) is None


def test_fast_path_only_for_strong_passwords():
    """A weak password never gets a tagged salt: its check always costs the full PBKDF2."""
    key = scram.tag_key_from("superuser-password")
    weak = "hunter2"
    strong = "aB3" * 22
    assert not scram.is_strong(weak)
    assert scram.is_strong(strong)
    weak_verifier = scram.scram_verifier(weak, tag_key=key, username="u")
    assert not scram.tagged(weak, weak_verifier, "u", key)
    assert scram.verify(weak, weak_verifier, "u", tag_key=key)
    strong_verifier = scram.scram_verifier(strong, tag_key=key, username="u")
    assert scram.tagged(strong, strong_verifier, "u", key)
    assert scram.verify(strong, strong_verifier, "u", tag_key=key)
