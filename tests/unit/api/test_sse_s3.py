"""SSE-S3 keys: master key derivation, data key wrapping, the keyring, and
the bucket default encryption document."""

import base64
import hashlib
import hmac
import os

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3 import errors, sse_s3
from garage_twisted.api.s3.bucket_encryption import encryption_xml, parse_encryption
from garage_twisted.api.s3.encryption import CustomerKey

SECRET = bytes(range(32))
OLD = bytes(range(1, 33))


def hkdf_sha256(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, written out: what an operator's own tool would compute."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


class DerivationTests(SynchronousTestCase):
    def test_master_key_is_hkdf_sha256_of_the_secret(self):
        """The master key and its id are HKDF-SHA256 outputs of the secret
        (salt and info as documented), pinned: a change would leave every
        stored object unreadable."""
        master = sse_s3.MasterKey.derive(SECRET)
        salt = b"garage-twisted sse-s3"
        self.assertEqual(master.key, hkdf_sha256(SECRET, salt, b"master key v1", 32))
        self.assertEqual(master.key_id, hkdf_sha256(SECRET, salt, b"key id v1", 8).hex())
        self.assertEqual(master.key.hex(), "cf5de8facec2e8e52084fe4bd2750c2b"
                                           "6e995d1a325671865af2bdc602c7905c")
        self.assertEqual(master.key_id, "8197f54234a359b7")

    def test_keys_never_show_in_reprs(self):
        """Neither the master key nor a data key appears in a repr (logs,
        tracebacks)."""
        master = sse_s3.MasterKey.derive(SECRET)
        self.assertNotIn(master.key.hex(), repr(master))
        self.assertNotIn(repr(master.key), repr(master))
        data = sse_s3.Keyring(master).new_key()
        self.assertNotIn(repr(data.key), repr(data))

    def test_short_secrets_are_refused(self):
        with self.assertRaises(ValueError):
            sse_s3.MasterKey.derive(b"x" * 31)

    def test_no_secret_no_keyring(self):
        self.assertIsNone(sse_s3.Keyring.from_secrets(None))


class WrappingTests(SynchronousTestCase):
    def setUp(self):
        self.keyring = sse_s3.Keyring.from_secrets(SECRET)

    def test_round_trip(self):
        """A data key wrapped by the keyring unwraps to itself; its stored
        form names the master key's id and holds neither key in clear."""
        key = self.keyring.new_key()
        self.assertTrue(key.stored.startswith(f"sse-s3:{self.keyring.current.key_id}:"))
        self.assertTrue(sse_s3.is_managed(key.stored))
        self.assertEqual(self.keyring.unwrap(key.stored).key, key.key)
        blob = base64.b64decode(key.stored.rsplit(":", 1)[1])
        self.assertNotIn(key.key, blob)
        self.assertNotIn(self.keyring.current.key, blob)
        self.assertNotIn(SECRET, blob)

    def test_each_object_has_its_own_key_and_nonce(self):
        first, second = self.keyring.new_key(), self.keyring.new_key()
        self.assertNotEqual(first.key, second.key)
        again = self.keyring.rewrap(first)
        self.assertEqual(again.key, first.key)
        self.assertNotEqual(again.stored, first.stored)

    def test_old_secrets_unwrap_new_keys_use_the_current_one(self):
        """Rotation: a key wrapped under the old secret unwraps with a
        keyring holding it as old; new keys (and rewraps) use the current."""
        old_ring = sse_s3.Keyring.from_secrets(OLD)
        written = old_ring.new_key()
        rotated = sse_s3.Keyring.from_secrets(SECRET, [OLD])
        self.assertEqual(rotated.unwrap(written.stored).key, written.key)
        self.assertEqual(rotated.new_key().stored.split(":")[1],
                         rotated.current.key_id)
        moved = rotated.rewrap(rotated.unwrap(written.stored))
        self.assertEqual(self.keyring.unwrap(moved.stored).key, written.key)
        self.assertEqual(rotated.key_ids, tuple(sorted(
            {old_ring.current.key_id, rotated.current.key_id})))

    def test_a_missing_master_key_is_a_clear_error(self):
        written = sse_s3.Keyring.from_secrets(OLD).new_key()
        with self.assertRaises(errors.InternalError) as caught:
            self.keyring.unwrap(written.stored)
        self.assertIn(sse_s3.MasterKey.derive(OLD).key_id, caught.exception.message)
        self.assertIn("sse_s3_old_secrets", caught.exception.message)

    def test_tampered_wrapped_keys_do_not_unwrap(self):
        """A changed byte, or a wrapped key moved under another key id, fails
        authentication rather than giving a wrong key."""
        stored = self.keyring.new_key().stored
        prefix, encoded = stored.rsplit(":", 1)
        blob = bytearray(base64.b64decode(encoded))
        blob[-1] ^= 1
        for bad in (f"{prefix}:{base64.b64encode(bytes(blob)).decode()}",
                    f"{prefix}:not base64!", f"{prefix}:"):
            with self.assertRaises(errors.InternalError):
                self.keyring.unwrap(bad)
        # The same wrapped bytes under another master key's id.
        other = sse_s3.MasterKey.derive(OLD)
        both = sse_s3.Keyring(self.keyring.current, [other])
        with self.assertRaises(errors.InternalError):
            both.unwrap(f"sse-s3:{other.key_id}:{encoded}")

    def test_blocks_encrypt_as_sse_c_does(self):
        """A block is nonce + AES-256-GCM ciphertext + tag, 28 bytes more
        than the plain bytes; another key cannot read it."""
        key = self.keyring.new_key()
        plain = os.urandom(1000)
        stored = key.encrypt(plain)
        self.assertEqual(len(stored), len(plain) + 28)
        self.assertEqual(key.decrypt(stored), plain)
        self.assertNotEqual(key.encrypt(plain), stored)
        with self.assertRaises(errors.InternalError):
            self.keyring.new_key().decrypt(stored)
        # A large block is sealed in one buffer (no copy): the same format.
        big = os.urandom(sse_s3.SEAL_INTO_MIN + 5)
        sealed = key.encrypt(big)
        self.assertEqual(len(sealed), len(big) + 28)
        self.assertEqual(key.decrypt(sealed), big)
        self.assertEqual(key.decrypt(bytes(sealed)), big)
        with self.assertRaises(errors.InternalError):
            key.decrypt(sealed[:-1])
        self.assertEqual(key.response_headers(),
                         [(b"x-amz-server-side-encryption", b"AES256")])
        self.assertFalse(key.hides_etag)

    def test_sse_c_metadata_is_never_taken_for_sse_s3(self):
        """SSE-C versions keep a base64 MD5 (no ``:``); plain ones None."""
        customer = CustomerKey(os.urandom(32), base64.b64encode(os.urandom(16)).decode())
        self.assertFalse(sse_s3.is_managed(customer.meta_value))
        self.assertFalse(sse_s3.is_managed(None))
        self.assertTrue(customer.hides_etag)


def rule(inner: str, bucket_key: str = "") -> bytes:
    return (b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/'
            b'2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault>'
            + inner.encode() + b"</ApplyServerSideEncryptionByDefault>"
            + bucket_key.encode() + b"</Rule></ServerSideEncryptionConfiguration>")


class BucketEncryptionDocumentTests(SynchronousTestCase):
    def test_aes256_round_trips(self):
        config = parse_encryption(rule("<SSEAlgorithm>AES256</SSEAlgorithm>"))
        self.assertEqual(config, {"algorithm": "AES256", "bucket_key": None})
        self.assertEqual(parse_encryption(encryption_xml(config)), config)
        config = parse_encryption(rule("<SSEAlgorithm>AES256</SSEAlgorithm>",
                                       "<BucketKeyEnabled>true</BucketKeyEnabled>"))
        self.assertEqual(config["bucket_key"], True)
        self.assertIn(b"<BucketKeyEnabled>true</BucketKeyEnabled>", encryption_xml(config))

    def test_kms_is_not_implemented(self):
        for algorithm in ("aws:kms", "aws:kms:dsse"):
            with self.assertRaises(errors.NotImplemented) as caught:
                parse_encryption(rule(f"<SSEAlgorithm>{algorithm}</SSEAlgorithm>"))
            self.assertIn("SSE-KMS", caught.exception.message)

    def test_awss_errors(self):
        with self.assertRaises(errors.InvalidArgument):
            parse_encryption(rule("<SSEAlgorithm>AES256</SSEAlgorithm>"
                                  "<KMSMasterKeyID>k</KMSMasterKeyID>"))
        for body in (rule("<SSEAlgorithm>DES</SSEAlgorithm>"), rule(""),
                     rule("<SSEAlgorithm>AES256</SSEAlgorithm>",
                          "<BucketKeyEnabled>maybe</BucketKeyEnabled>"),
                     b"<ServerSideEncryptionConfiguration/>",
                     rule("<SSEAlgorithm>AES256</SSEAlgorithm>").replace(
                         b"<Rule>", b"<Rule><Other/>"),
                     b"<ServerSideEncryptionConfiguration><Rule/><Rule/>"
                     b"</ServerSideEncryptionConfiguration>", b"<nope"):
            with self.assertRaises(errors.MalformedXML):
                parse_encryption(body)
