/**
 * The cross-stitch unit of Misra et al. (2016): N task towers in, N towers out, where tower i's
 * output is a learned linear mix of all towers' activations, one N x N matrix per channel
 * (channel-wise) or one for the whole layer (layer-wise):
 *   out_i[..., c] = sum_j alpha[c, i, j] * in_j[..., c]
 */
import type { AlphaInit, AlphaMode } from "../contracts/architecture.ts";
import * as tf from "./tf.ts";

export interface CrossStitchOptions {
  name: string;
  alphaMode: AlphaMode;
  alphaInit: AlphaInit;
  /** Diagonal weight of the convex init; the rest, 1 - alphaSame, is shared equally by the other towers. */
  alphaSame: number;
}

/** Initial alpha as nested rows [rows][N][N]: identity, or a convex mix with alphaSame on the diagonal. */
export function initialAlpha(rows: number, towers: number, init: AlphaInit, alphaSame: number): number[][][] {
  const same = init === "identity" || towers === 1 ? 1 : alphaSame;
  const other = towers === 1 ? 0 : (1 - same) / (towers - 1);
  const matrix = Array.from({ length: towers }, (_, i) =>
    Array.from({ length: towers }, (_, j) => (i === j ? same : other)),
  );
  return Array.from({ length: rows }, () => matrix.map((row) => [...row]));
}

/**
 * Mixes N same-shaped activations [..., C] with alpha [C or 1, N, N]. Shared by the layer's call
 * and the training forward pass so both compute exactly the same thing.
 */
export function crossStitchMix(inputs: tf.Tensor[], alpha: tf.Tensor): tf.Tensor[] {
  const towers = inputs.length;
  const rows = alpha.shape[0] ?? 1;
  // One Unpack op (and one Pack in the gradient) yields every alpha[:, i, j] as a [rows] vector,
  // which broadcasts over the channel axis (or everywhere, for layer-wise rows = 1).
  const coefficients = tf.unstack(alpha.reshape([rows, towers * towers]), 1);
  return inputs.map((_, i) => {
    const terms = inputs.map((input, j) => input.mul(coefficients[i * towers + j] as tf.Tensor));
    return terms.length === 1 ? (terms[0] as tf.Tensor) : tf.addN(terms);
  });
}

interface CrossStitchConfig extends tf.serialization.ConfigDict {
  name: string;
  alphaMode: AlphaMode;
  alphaInit: AlphaInit;
  alphaSame: number;
}

export class CrossStitch extends tf.layers.Layer {
  static readonly className = "CrossStitch";
  readonly alphaMode: AlphaMode;
  readonly alphaInit: AlphaInit;
  readonly alphaSame: number;
  private alpha: tf.LayerVariable | null = null;

  constructor(config: CrossStitchConfig) {
    super(config);
    if (config.alphaMode !== "channel" && config.alphaMode !== "layer") {
      throw new Error(`CrossStitch: alphaMode must be "channel" or "layer", got ${String(config.alphaMode)}`);
    }
    if (config.alphaInit !== "identity" && config.alphaInit !== "convex") {
      throw new Error(
        `CrossStitch: alphaInit must be "identity" or "convex", got ${String(config.alphaInit)}`,
      );
    }
    this.alphaMode = config.alphaMode;
    this.alphaInit = config.alphaInit;
    this.alphaSame = config.alphaSame;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = inputShape as tf.Shape[];
    const first = shapes[0];
    if (!Array.isArray(first) || shapes.length < 2) {
      throw new Error(`${this.name}: needs a list of at least 2 tower inputs`);
    }
    const channels = first[first.length - 1];
    if (channels == null) throw new Error(`${this.name}: the channel axis must have a known size`);
    const rows = this.alphaMode === "channel" ? channels : 1;
    this.alpha = this.addWeight(
      "alpha",
      [rows, shapes.length, shapes.length],
      "float32",
      tf.initializers.zeros(),
    );
    this.alpha.write(tf.tensor3d(initialAlpha(rows, shapes.length, this.alphaInit, this.alphaSame)));
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    return inputShape as tf.Shape[];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    const alpha = this.alpha;
    if (alpha === null) throw new Error(`${this.name}: called before build`);
    return tf.tidy(() => crossStitchMix(inputs as tf.Tensor[], alpha.read()));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      alphaMode: this.alphaMode,
      alphaInit: this.alphaInit,
      alphaSame: this.alphaSame,
    };
  }
}

tf.serialization.registerClass(CrossStitch);

export function crossStitch(options: CrossStitchOptions): CrossStitch {
  return new CrossStitch({ ...options });
}
