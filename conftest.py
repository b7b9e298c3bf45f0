"""Settings for every test run (`pytest` from the repository root).

Fast mode is on unless the caller chose otherwise (`CSLIB_FAST=0 pytest` runs full mode), and
each process uses one BLAS thread: with two pytest workers on two cores that is fastest, and
the notebook kernels that nbval starts inherit these variables.
"""
import os

os.environ.setdefault("CSLIB_FAST", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
