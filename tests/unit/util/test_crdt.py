"""The merge laws of every CRDT: commutative, associative, idempotent."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.crdt import Bool, CrdtMap, Deletable, Lww, LwwMap

plain = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.binary(max_size=3))
lwws = st.builds(Lww, st.integers(0, 4), plain)
bools = st.builds(Bool, st.booleans())
lww_maps = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", "c"]), plain),
                    max_size=6).map(
    lambda items: _fold(LwwMap(), items))
crdt_maps = st.dictionaries(st.sampled_from(["x", "y"]), lwws, max_size=2).map(
    lambda d: _fold_crdt(d))
deletables = st.one_of(st.just(Deletable(None)), lwws.map(Deletable))


def _fold(m, items):
    for ts, key, value in items:
        m = m.merge(LwwMap().put(ts, key, value))
    return m


def _fold_crdt(d):
    m = CrdtMap()
    for key, value in d.items():
        m = m.put(key, value)
    return m


def _check_laws(test, a, b, c):
    test.assertEqual(a.merge(b), b.merge(a))
    test.assertEqual(a.merge(b).merge(c), a.merge(b.merge(c)))
    test.assertEqual(a.merge(a), a)


class MergeLawTests(SynchronousTestCase):
    @settings(max_examples=200)
    @given(lwws, lwws, lwws)
    def test_lww(self, a, b, c):
        """Lww merges obey the laws, even with equal timestamps."""
        _check_laws(self, a, b, c)

    @given(bools, bools, bools)
    def test_bool(self, a, b, c):
        """Bool merges obey the laws."""
        _check_laws(self, a, b, c)

    @settings(max_examples=200)
    @given(lww_maps, lww_maps, lww_maps)
    def test_lww_map(self, a, b, c):
        """LwwMap merges obey the laws."""
        _check_laws(self, a, b, c)

    @given(crdt_maps, crdt_maps, crdt_maps)
    def test_crdt_map(self, a, b, c):
        """CrdtMap merges obey the laws."""
        _check_laws(self, a, b, c)

    @given(deletables, deletables, deletables)
    def test_deletable(self, a, b, c):
        """Deletable merges obey the laws, and deletion wins."""
        _check_laws(self, a, b, c)
        if a.is_deleted:
            self.assertTrue(a.merge(b).is_deleted)


class UpdateTests(SynchronousTestCase):
    def test_lww_update_supersedes_a_future_timestamp(self):
        """An update from a lagging clock still wins over what it read."""
        old = Lww(1000, "old")
        new = old.update(10, "new")
        self.assertEqual(new.timestamp, 1001)
        self.assertEqual(old.merge(new).value, "new")

    def test_lww_map_put(self):
        """LwwMap.put supersedes the key's previous value."""
        m = LwwMap().put(500, "k", 1)
        m2 = m.put(100, "k", 2)
        self.assertEqual(m2.timestamp_of("k"), 501)
        self.assertEqual(m.merge(m2).get("k"), 2)

    @given(lww_maps)
    def test_round_trip(self, m):
        """LwwMap survives its CBOR form."""
        self.assertEqual(LwwMap.from_cbor(m.to_cbor()), m)

    def test_deletable_round_trip(self):
        """Deletable, Bool and Lww survive their CBOR forms."""
        for value in (Deletable(None), Deletable(Lww(3, b"x"))):
            self.assertEqual(Deletable.from_cbor(value.to_cbor(), lambda r: Lww.from_cbor(r)),
                             value)
        self.assertEqual(Bool.from_cbor(Bool(True).to_cbor()), Bool(True))


class CanonicalOrderTests(SynchronousTestCase):
    @settings(max_examples=300)
    @given(st.one_of(
        st.lists(st.integers(0, 2 ** 40), unique=True),
        st.lists(st.tuples(st.integers(0, 70000), st.integers(0, 2 ** 33)), unique=True),
        st.lists(st.binary(min_size=32, max_size=32), unique=True),
        st.lists(st.one_of(st.integers(-5, 300), st.binary(max_size=3), st.text(max_size=2)),
                 unique=True),
    ))
    def test_native_sort_matches_encoding_order(self, keys):
        """The fast paths sort exactly as the canonical CBOR encodings do."""
        from garage_twisted.util.crdt import _order_key, canonical_sorted

        self.assertEqual(canonical_sorted(keys), sorted(keys, key=_order_key))
