"""The C part of nbcli (nbcli/client/_untar.c); everything else is in pyproject.toml.

Optional: without a C compiler nbcli installs and runs with the Python it mirrors, only
restoring small files slower. The test suite imports the module, so a failed build fails it.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("nbcli.client._untar", ["nbcli/client/_untar.c"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra"], optional=True)])
