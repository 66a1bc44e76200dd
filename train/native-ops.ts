/**
 * Training-path ops that tfjs composes from many small kernels, expressed instead as single
 * TensorFlow kernels of the tfjs-node backend, each with a hand-written gradient.
 *
 * Why: tfjs-node dispatches one TensorFlow op at a time, so the per-op overhead of a composed
 * batch norm (moments, several element-wise ops and their gradients) or a composed softmax
 * cross-entropy dominates a small CNN's step. TensorFlow's own fused kernels do the same maths
 * in one call each way.
 */
import * as tf from "./tf.ts";

interface OpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

interface NativeBackend {
  binding: {
    TF_FLOAT: number;
    TF_INT32: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], count: number): tf.Tensor[];
}

function nativeBackend(): NativeBackend {
  if (tf.getBackend() !== "tensorflow") {
    throw new Error(`the training step needs the tfjs-node "tensorflow" backend, not "${tf.getBackend()}"`);
  }
  return tf.backend() as unknown as NativeBackend;
}

function batchNormAttrs(backend: NativeBackend, epsilon: number): OpAttr[] {
  const b = backend.binding;
  return [
    { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "U", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "epsilon", type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: "data_format", type: b.TF_ATTR_STRING, value: "NHWC" },
    { name: "is_training", type: b.TF_ATTR_BOOL, value: true },
  ];
}

/** Receives the batch mean and unbiased batch variance per channel, while they are alive. */
export type BatchStatisticsSink = (mean: tf.Tensor1D, variance: tf.Tensor1D) => void;

/**
 * Batch normalisation in training mode over every axis but the last, as one FusedBatchNormV3
 * kernel forward and one FusedBatchNormGradV3 kernel backward. Accepts rank 2 ([batch, units])
 * or rank 4 (NHWC) input. The batch statistics exist only inside the kernel call's scope, so
 * they are handed to `onStatistics` there rather than returned.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  onStatistics: BatchStatisticsSink,
): tf.Tensor {
  const backend = nativeBackend();
  const attrs = batchNormAttrs(backend, epsilon);
  const shape = x.shape;
  const channels = shape[shape.length - 1] ?? 0;
  const x4 = shape.length === 4 ? (x as tf.Tensor4D) : x.reshape([-1, 1, 1, channels]);
  const fused = tf.customGrad((input, scale, offset, save) => {
    const empty = tf.tensor1d([], "float32");
    const [y, mean, variance, reserve1, reserve2, reserve3] = backend.executeMultipleOutputs(
      "FusedBatchNormV3",
      [...attrs, { name: "exponential_avg_factor", type: backend.binding.TF_ATTR_FLOAT, value: 1 }],
      [input as tf.Tensor, scale as tf.Tensor, offset as tf.Tensor, empty, empty],
      6,
    ) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    empty.dispose();
    onStatistics(mean as tf.Tensor1D, variance as tf.Tensor1D);
    (save as tf.GradSaveFunc)([input as tf.Tensor, scale as tf.Tensor, reserve1, reserve2, reserve3]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xSaved, scaleSaved, r1, r2, r3] = saved as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
        ];
        const [dx, dScale, dOffset, extra1, extra2] = backend.executeMultipleOutputs(
          "FusedBatchNormGradV3",
          attrs,
          [dy as tf.Tensor, xSaved, scaleSaved, r1, r2, r3],
          5,
        ) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        extra1.dispose();
        extra2.dispose();
        return [dx, dScale, dOffset];
      },
    };
  });
  const y4 = fused(x4, gamma, beta);
  return shape.length === 4 ? y4 : y4.reshape(shape);
}

/**
 * Mean softmax cross-entropy of logits [batch, classes] against integer labels [batch], as one
 * SparseSoftmaxCrossEntropyWithLogits kernel; the kernel also returns the gradient, which is kept.
 */
export function sparseSoftmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const backend = nativeBackend();
  const b = backend.binding;
  const attrs: OpAttr[] = [
    { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "Tlabels", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
  ];
  const batch = logits.shape[0];
  const loss = tf.customGrad((features, save) => {
    const [perExample, backprop] = backend.executeMultipleOutputs(
      "SparseSoftmaxCrossEntropyWithLogits",
      attrs,
      [features as tf.Tensor, labels],
      2,
    ) as [tf.Tensor1D, tf.Tensor2D];
    (save as tf.GradSaveFunc)([backprop]);
    return {
      value: perExample.mean(),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
        (saved[0] as tf.Tensor).mul((dy as tf.Tensor).div(batch)),
      ],
    };
  });
  return loss(logits) as tf.Scalar;
}

/**
 * Inverted dropout whose mask is a pure function of (seed, shape): TensorFlow's
 * StatelessRandomUniform. A resumed run replays the same masks as an uninterrupted one.
 */
export function seededDropout(x: tf.Tensor, keepProb: number, seed: [number, number]): tf.Tensor {
  if (keepProb >= 1) return x;
  const backend = nativeBackend();
  const b = backend.binding;
  const shape = tf.tensor1d(x.shape, "int32");
  const seedTensor = tf.tensor1d(seed, "int32");
  const uniform = backend.executeSingleOutput(
    "StatelessRandomUniform",
    [
      { name: "dtype", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
      { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
      { name: "Tseed", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
    ],
    [shape, seedTensor],
  );
  const mask = uniform.add(keepProb).floor().div(keepProb);
  return x.mul(mask);
}

/**
 * ReLU whose gradient is TensorFlow's ReluGrad kernel; tfjs' own gradient composes a step
 * function, a cast and a multiply, each a full pass over the activations.
 */
export function relu(x: tf.Tensor): tf.Tensor {
  const backend = nativeBackend();
  const attrs: OpAttr[] = [
    { name: "T", type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT },
  ];
  const op = tf.customGrad((input, save) => {
    const y = backend.executeSingleOutput("Relu", attrs, [input as tf.Tensor]);
    (save as tf.GradSaveFunc)([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
        backend.executeSingleOutput("ReluGrad", attrs, [dy as tf.Tensor, saved[0] as tf.Tensor]),
      ],
    };
  });
  return op(x);
}

/** x [batch, in] times w [in, out] with TensorFlow's MatMul kernel both ways (tfjs routes through BatchMatMul). */
export function matMul(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const backend = nativeBackend();
  const b = backend.binding;
  const product = (a: tf.Tensor, c: tf.Tensor, transposeA: boolean, transposeB: boolean) =>
    backend.executeSingleOutput(
      "MatMul",
      [
        { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
        { name: "transpose_a", type: b.TF_ATTR_BOOL, value: transposeA },
        { name: "transpose_b", type: b.TF_ATTR_BOOL, value: transposeB },
      ],
      [a, c],
    );
  const op = tf.customGrad((a, c, save) => {
    (save as tf.GradSaveFunc)([a as tf.Tensor, c as tf.Tensor]);
    return {
      value: product(a as tf.Tensor, c as tf.Tensor, false, false),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [aSaved, cSaved] = saved as [tf.Tensor, tf.Tensor];
        return [product(dy as tf.Tensor, cSaved, false, true), product(aSaved, dy as tf.Tensor, true, false)];
      },
    };
  });
  return op(x, w) as tf.Tensor2D;
}

/**
 * sum(w^2) over all the given weights, each through TensorFlow's L2Loss kernel (sum(w^2) / 2 in
 * one pass), with the gradient 2 w dy as one multiply per weight.
 */
export function sumOfSquares(weights: tf.Tensor[]): tf.Scalar {
  const backend = nativeBackend();
  const attrs: OpAttr[] = [
    { name: "T", type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT },
  ];
  const op = tf.customGrad((...args) => {
    const inputs = args.slice(0, -1) as tf.Tensor[];
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    save(inputs);
    const halves = inputs.map((w) => backend.executeSingleOutput("L2Loss", attrs, [w]));
    return {
      value: tf.addN(halves).mul(2),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const scale = (dy as tf.Tensor).mul(2);
        return saved.map((w) => w.mul(scale));
      },
    };
  });
  return op(...weights) as tf.Scalar;
}

/**
 * A [shape] sample of the standard normal truncated at two standard deviations, a pure function
 * of (seed, shape): TensorFlow's StatelessTruncatedNormal. tfjs draws its truncated normals in
 * JavaScript, several seconds for one 3136x1024 kernel.
 */
export function statelessTruncatedNormal(shape: number[], seed: [number, number]): tf.Tensor {
  const backend = nativeBackend();
  const b = backend.binding;
  return tf.tidy(() =>
    backend.executeSingleOutput(
      "StatelessTruncatedNormal",
      [
        { name: "dtype", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
        { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
        { name: "Tseed", type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
      ],
      [tf.tensor1d(shape, "int32"), tf.tensor1d(seed, "int32")],
    ),
  );
}
