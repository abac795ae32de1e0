"""Builds the compiled extension numloss._ctc from numloss/_ctc.pyx.

OpenMP is used only when the compiler accepts ``-fopenmp`` and a test program using it links;
otherwise the extension is built serial. A missing C compiler fails the install with a clear
message instead of installing a package that breaks at import.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
  n += 1;
  return n > 0 ? 0 : 1; }
"""


def openmp_flags(compiler):
    """``-fopenmp`` if the compiler builds and links an OpenMP program, else nothing."""
    if os.environ.get("NUMLOSS_NO_OPENMP"):
        return []
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
        compiler.link_executable(objs, os.path.join(tmp, "omp_test"), extra_postargs=["-fopenmp"])
        subprocess.run([os.path.join(tmp, "omp_test")], check=True, capture_output=True)
        return ["-fopenmp"]
    except Exception:
        return []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        compiler_cmd = getattr(self.compiler, "compiler", None) or []
        if compiler_cmd and shutil.which(compiler_cmd[0]) is None:
            sys.exit(
                f"numloss: cannot build the compiled CTC extension: the C compiler "
                f"{compiler_cmd[0]!r} was not found. Install a C compiler (e.g. gcc) and the "
                "Python development headers, then retry."
            )
        flags = openmp_flags(self.compiler)
        for ext in self.extensions:
            ext.extra_compile_args += flags + ["-O3"]
            ext.extra_link_args += flags
            ext.define_macros.append(("NUMLOSS_OPENMP", "1" if flags else "0"))
        try:
            super().build_extensions()
        except Exception as exc:
            sys.exit(f"numloss: building the compiled CTC extension failed: {exc}")


setup(
    ext_modules=cythonize(
        [Extension("numloss._ctc", ["numloss/_ctc.pyx"])],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
