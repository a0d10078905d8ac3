"""Package discovery for the three top-level folders that install under `platforge`.

Everything else is in pyproject.toml. setuptools' `packages.find` cannot follow a `package-dir`
mapping of `provider/` to `platforge.provider`, so each folder is searched with the same
`find_packages` and prefixed: a new subpackage can never drop out of the wheel
(tests/test_packaging.py checks the wheel against the tree).
"""

from setuptools import find_packages, setup

#: Import name -> folder.
ROOTS = {"platforge": "platforge", "platforge.provider": "provider", "platforge.pulumi": "resources"}


def packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return sorted(found)


setup(package_dir=ROOTS, packages=packages())
