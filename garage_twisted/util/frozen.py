"""Building frozen dataclass instances fast, for decoders on hot paths.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__`` (its own ``__setattr__`` refuses), which makes it
about three times as slow as a plain class's: decoding a listing page
builds four of them per key. :func:`builder` makes a constructor that fills
the instance's ``__dict__`` directly instead.

Invariant: an instance built this way is equal, hashes equal and behaves
the same as one built by ``__init__`` with the same values; so the class
must have no ``__post_init__``, no ``slots`` and no ``InitVar`` fields, and
the caller gives every field (defaults are not filled in). :func:`builder`
checks the first two (an ``InitVar`` is of no use without a
``__post_init__``), and the built function the number of values.
"""

import dataclasses


def builder(cls):
    """A function ``build(*values)`` returning a ``cls`` with those field
    values, in declaration order (it takes exactly one per field).

    :raises TypeError: if ``cls`` is not a dataclass this can build.
    """
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") \
            or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: not a dataclass without __post_init__ or slots")
    names = [field.name for field in dataclasses.fields(cls)]
    # Generated like dataclasses' own __init__: positional parameters and
    # one dict display, no loop per call.
    params = ", ".join(f"v{i}" for i in range(len(names)))
    items = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(names))
    source = (f"def build({params}):\n"
              f"    instance = new(cls)\n"
              f"    instance.__dict__.update({{{items}}})\n"
              f"    return instance\n")
    namespace = {"new": object.__new__, "cls": cls}
    exec(source, namespace)
    build = namespace["build"]
    build.__name__ = build.__qualname__ = f"build_{cls.__name__}"
    return build
