/**
 * Settings TensorFlow reads when libtensorflow loads; train/tf.ts imports this module before
 * tfjs-node so they are in place in time. oneDNN's kernels for eager ops measured here cut a
 * training step's CPU time (conv1 forward about 5x, matmul about a third). An explicit
 * TF_ENABLE_ONEDNN_OPTS in the environment wins.
 */
import util from "node:util";

process.env.TF_ENABLE_ONEDNN_OPTS ??= "1";
process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";

// tfjs-node 4.22's kernel backend calls util.isNullOrUndefined, which Node 23 removed; it looks
// the function up on the module object at call time, so putting it back here is enough.
const legacy = util as unknown as { isNullOrUndefined?: (value: unknown) => boolean };
legacy.isNullOrUndefined ??= (value: unknown) => value === null || value === undefined;
