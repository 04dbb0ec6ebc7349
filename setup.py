"""Package list only; all other metadata lives in setup.cfg.

``twisted.plugins`` is listed by hand: it has no ``__init__.py`` (it must not
shadow Twisted's own), so ``find_packages`` cannot see it.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["garage_twisted", "garage_twisted.*"])
    + ["twisted.plugins"],
)
