"""The Keras reference for bench/train-speed.ts: the same towers (SPEC.md), trained in
TensorFlow/Keras graph mode at batch 128 on random data, steady-state images/s, so the
tfjs-node step can be compared with Keras on the same machine in the same run.

    python bench/keras_reference.py [--steps 25] [--warmup 5]   (prints one JSON line)

Needs TensorFlow 2.x with Keras 3 (`pip install tensorflow-cpu==2.21.0`).
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

BATCH = 128
# Keras 3 compiles the train step with XLA by default ("auto"); --no-xla measures plain graph mode.
JIT = "auto"
CLASSES = (10, 3)
L2 = keras.regularizers.L2(1e-5)


class CrossStitch(keras.layers.Layer):
    """Channel-wise unit: x'_i = sum_j alpha[c, i, j] x_j, alpha initialised to 0.9 / 0.1."""

    def build(self, shapes):
        towers, channels = len(shapes), shapes[0][-1]
        init = np.full((channels, towers, towers), 0.1 / (towers - 1), "float32")
        for i in range(towers):
            init[:, i, i] = 0.9
        self.alpha = self.add_weight(shape=init.shape, initializer=keras.initializers.Constant(init))

    def call(self, xs):
        return [sum(self.alpha[:, i, j] * x for j, x in enumerate(xs)) for i in range(len(xs))]


def conv_block(x, filters):
    x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal", kernel_regularizer=L2)(x)
    x = keras.layers.BatchNormalization()(x)
    return keras.layers.ReLU()(x)


def build(cross_stitch):
    image = keras.Input((28, 28, 1))
    towers = [image] * len(CLASSES)
    stitch = (lambda xs: CrossStitch()(xs)) if cross_stitch else (lambda xs: xs)
    towers = stitch([keras.layers.MaxPool2D()(conv_block(x, 32)) for x in towers])
    towers = stitch([keras.layers.MaxPool2D()(conv_block(x, 64)) for x in towers])
    dense = []
    for x in towers:
        x = keras.layers.Dense(1024, kernel_initializer="he_normal", kernel_regularizer=L2)(keras.layers.Flatten()(x))
        dense.append(keras.layers.ReLU()(keras.layers.BatchNormalization()(x)))
    towers = [keras.layers.Dropout(0.2)(x) for x in stitch(dense)]
    logits = [keras.layers.Dense(n, kernel_regularizer=L2)(x) for x, n in zip(towers, CLASSES)]
    model = keras.Model(image, logits)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=[loss] * len(CLASSES), jit_compile=JIT)
    return model


def images_per_second(cross_stitch, warmup, steps):
    model = build(cross_stitch)
    rng = np.random.default_rng(1)
    images = rng.standard_normal((BATCH * (warmup + steps), 28, 28, 1), dtype="float32")
    labels = [rng.integers(0, n, BATCH * (warmup + steps)) for n in CLASSES]
    warm = slice(0, BATCH * warmup)
    model.fit(images[warm], [y[warm] for y in labels], batch_size=BATCH, epochs=1, verbose=0)
    timed = slice(BATCH * warmup, None)
    start = time.perf_counter()
    model.fit(images[timed], [y[timed] for y in labels], batch_size=BATCH, epochs=1, verbose=0)
    return BATCH * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-xla", action="store_true")
    args = parser.parse_args()
    global JIT
    JIT = False if args.no_xla else "auto"
    result = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "batch": BATCH,
        "measured_steps": args.steps,
        "xla": not args.no_xla,
        "images_per_second": {
            variant: round(images_per_second(variant == "cross_stitch", args.warmup, args.steps), 1)
            for variant in ("baseline", "cross_stitch")
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
