"""Write executor/demo/digits.npz, the demo dataset, from scikit-learn's copy of the UCI digits.

The 8x8 handwritten digits (E. Alpaydin, C. Kaynak, UCI ML repository, CC BY 4.0; 1,797 images,
integer pixels 0..16) ship inside scikit-learn as sklearn/datasets/data/digits.csv.gz: 64 pixel
columns, then the label. nodecat ships the converted file, so neither scikit-learn nor the network
is needed to train the demo. Run this only to regenerate it:

    python examples/make_digits_npz.py [path/to/digits.csv.gz] [out.npz]

Without a path, the CSV of an installed scikit-learn is used. The output holds `images`
(float32, N x 1 x 8 x 8, pixels scaled to 0..1) and `labels` (int64, 0..9), in the file's order.
"""
from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "executor" / "demo" / "digits.npz"


def installed_csv() -> Path:
    import sklearn  # only to find the file; nodecat never imports it otherwise
    return Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"


def convert(csv_gz: Path, out: Path) -> None:
    table = np.loadtxt(io.StringIO(gzip.decompress(csv_gz.read_bytes()).decode("ascii")), delimiter=",",
                       dtype=np.int64)
    pixels, labels = table[:, :64], table[:, 64]
    images = (pixels.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    print(f"{out}: {len(labels)} images, labels {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else installed_csv()
    convert(source, Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT)
