"""Cold start: ``import numloss`` and a first call in a fresh interpreter, with the compile
cache already warm (a user's second session)."""
import os
import subprocess
import sys

import numloss

# The fresh interpreter finds numloss where this one did: asv removes PYTHONPATH (and its own
# ASV_PYTHONPATH) from the environment of the processes it starts, so a source checkout run with
# --python=same would otherwise not be importable there.
CODE = f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(numloss.__file__)))!r})
""" + """
import numpy as np
import numloss
x = np.linspace(-1, 1, 1000, dtype=np.float32)
numloss.mse_loss(x, x[::-1], return_grad=True)
numloss.binary_cross_entropy_with_logits(x, (x > 0).astype(np.float32))
"""


class Startup:
    timeout = 600

    def setup(self):
        subprocess.run([sys.executable, "-c", CODE], check=True)  # warm the cache

    def timeraw_import_and_first_call(self):
        return CODE
