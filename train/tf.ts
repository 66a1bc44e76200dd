/** The one place train/ loads TensorFlow: tf-env.ts runs first (ES modules evaluate imports in order). */
import "./tf-env.ts";

export * from "@tensorflow/tfjs-node";
