"""Build script: compiles the Cython codec in amfast/ext."""
from Cython.Build import cythonize
from setuptools import Extension, setup

EXT_MODULES = ["encoder", "decoder"]

extensions = [
    Extension(f"amfast.ext.{name}", [f"amfast/ext/{name}.pyx"])
    for name in EXT_MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
