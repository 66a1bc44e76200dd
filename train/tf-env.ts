/**
 * Settings TensorFlow reads when libtensorflow loads; train/tf.ts imports this module before
 * tfjs-node so they are in place in time. oneDNN's kernels for eager ops measured here cut a
 * training step's CPU time (conv1 forward about 5x, matmul about a third). An explicit
 * TF_ENABLE_ONEDNN_OPTS in the environment wins.
 */
import util from "node:util";

process.env.TF_ENABLE_ONEDNN_OPTS ??= "1";
process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";

// tfjs-node 4.22's kernels call util.isNullOrUndefined, which Node 23 removed: without it every
// op with optional inputs throws "isNullOrUndefined is not a function" on Node 24.
const legacyUtil = util as typeof util & { isNullOrUndefined?: (value: unknown) => boolean };
legacyUtil.isNullOrUndefined ??= (value: unknown) => value === null || value === undefined;
