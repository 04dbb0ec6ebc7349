"""The streaming form reader: same parts whatever the chunking of the body."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.form import FormReader, boundary_of

BOUNDARY = b"----b0undary"


class _Chunks:
    def __init__(self, body, sizes):
        self.body, self.sizes = body, list(sizes) or [7]

    def read(self):
        size = self.sizes.pop(0) if len(self.sizes) > 1 else self.sizes[0]
        data, self.body = self.body[:size], self.body[size:]
        return defer.succeed(data)


def _body(parts):
    out = b"preamble ignored\r\n"
    for name, value in parts:
        out += b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"" + \
            name.encode() + b"\"\r\n\r\n" + value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\nepilogue"


def _parse(body, sizes):
    reader = FormReader(_Chunks(body, sizes), BOUNDARY)

    async def run():
        found = []
        while True:
            part = await reader.next_part()
            if part is None:
                return found
            pieces = []
            while True:
                data = await reader.read()
                if not data:
                    break
                pieces.append(data)
            found.append((part.name, b"".join(pieces)))

    d = defer.ensureDeferred(run())
    box = []
    d.addBoth(box.append)
    return box[0]


values = st.binary(max_size=300).map(lambda b: b.replace(b"--" + BOUNDARY, b"x"))


class FormReaderTests(SynchronousTestCase):

    @given(st.lists(st.tuples(st.sampled_from(["key", "policy", "file", "x-amz-meta-a"]),
                              values), max_size=5),
           st.lists(st.integers(1, 50), min_size=1, max_size=20))
    def test_any_chunking(self, parts, sizes):
        self.assertEqual(_parse(_body(parts), sizes), parts)

    def test_value_with_boundary_like_bytes(self):
        tricky = b"\r\n--" + BOUNDARY[:-1] + b"\r\n--"
        self.assertEqual(_parse(_body([("file", tricky)]), [3]), [("file", tricky)])

    def test_truncated_body_is_an_error(self):
        body = _body([("file", b"data" * 10)])[:-30]
        result = _parse(body, [5])
        self.assertTrue(result.check(errors.MalformedPOSTRequest))

    def test_boundary_of(self):
        self.assertEqual(boundary_of('multipart/form-data; boundary="a b"'), b"a b")
        self.assertEqual(boundary_of("multipart/form-data; charset=x; boundary=zz"), b"zz")
        with self.assertRaises(errors.InvalidRequest):
            boundary_of("application/json")
