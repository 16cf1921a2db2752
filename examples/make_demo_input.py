"""Write a seeded random batch for examples/cnn.json (4 images, 1x8x8) to the given .npy path.

The demo runs a freshly initialised network, so the input only has to have the right shape;
training on real digits comes with `nodecat train`.
"""
import sys
from pathlib import Path

import numpy as np

target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/demo/x.npy")
target.parent.mkdir(parents=True, exist_ok=True)
np.save(target, np.random.default_rng(0).uniform(0, 16, size=(4, 1, 8, 8)).astype("float32"))
print(f"wrote {target}")
