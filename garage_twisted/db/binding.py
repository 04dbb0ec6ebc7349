"""The LevelDB binding, chosen by what is installed.

plyvel ships wheels up to Python 3.12; from 3.13 on, ``setup.cfg`` installs
its maintained fork plyvel-next (import name ``plyvel_next``), which has the
same API and bundles LevelDB 1.23 where plyvel 1.5.1 bundles 1.22. Both read
and write the same files (LevelDB keeps its on-disk format across these
releases), so a node upgraded from one Python to the other opens its
database (``tests/unit/db/test_binding.py`` checks both directions where
both bindings are installed).

Everything else imports the binding from here, never by name.
"""

try:
    import plyvel
except ImportError:  # Python 3.13 and newer
    import plyvel_next as plyvel

BINDING = plyvel.__name__
ENGINE = f"LevelDB {plyvel.__leveldb_version__} ({BINDING.replace('_', '-')} " \
         f"{plyvel.__version__})"

__all__ = ["plyvel", "BINDING", "ENGINE"]
