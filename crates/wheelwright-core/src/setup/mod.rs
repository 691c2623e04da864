//! Runner setup: a Python environment with pip, setuptools, wheel and a proven ninja.
