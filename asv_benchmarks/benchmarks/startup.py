"""Cold start: ``import numloss`` and a first call in a fresh interpreter, with the compile
cache already warm (a user's second session)."""
import subprocess
import sys

CODE = """
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
