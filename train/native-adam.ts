/**
 * Adam whose update is TensorFlow's fused ResourceApplyAdam kernel: one multithreaded pass over
 * each weight per step, where tfjs' Adam dispatches about fourteen element-wise ops per weight
 * (a quarter of the whole step for the 3136x1024 fc3 kernels). The weights and both moments
 * live in TensorFlow resource variables while training; `copyToVariables` writes them back into
 * the model's tfjs variables for evaluation, saving and checkpoints.
 *
 * Update (TensorFlow's formulation, as Keras): lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t),
 * m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2, w -= lr_t m / (sqrt(v) + epsilon).
 */
import * as tf from "./tf.ts";

interface OpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

interface ResourceBackend {
  binding: {
    TF_FLOAT: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_SHAPE: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], count: number): tf.Tensor[];
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-7;
let resourceCounter = 0;

function backend(): ResourceBackend {
  return tf.backend() as unknown as ResourceBackend;
}

function floatAttr(): OpAttr[] {
  const b = backend().binding;
  return [{ name: "dtype", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT }];
}

class ResourceVariable {
  readonly handle: tf.Tensor;

  constructor(initial: tf.Tensor) {
    const b = backend().binding;
    this.handle = backend().executeSingleOutput(
      "VarHandleOp",
      [
        ...floatAttr(),
        { name: "shape", type: b.TF_ATTR_SHAPE, value: initial.shape },
        { name: "container", type: b.TF_ATTR_STRING, value: "" },
        {
          name: "shared_name",
          type: b.TF_ATTR_STRING,
          value: `stitch_adam_${process.pid}_${resourceCounter++}`,
        },
      ],
      [],
    );
    this.write(initial);
  }

  read(): tf.Tensor {
    return backend().executeSingleOutput("ReadVariableOp", floatAttr(), [this.handle]);
  }

  write(value: tf.Tensor): void {
    backend().executeMultipleOutputs("AssignVariableOp", floatAttr(), [this.handle, value], 0);
  }

  dispose(): void {
    const b = backend().binding;
    backend().executeMultipleOutputs(
      "DestroyResourceOp",
      [{ name: "ignore_lookup_error", type: b.TF_ATTR_BOOL, value: true }],
      [this.handle],
      0,
    );
    this.handle.dispose();
  }
}

function zeroResource(like: tf.Tensor): ResourceVariable {
  const zeros = tf.zerosLike(like);
  const resource = new ResourceVariable(zeros);
  zeros.dispose();
  return resource;
}

export interface AdamState {
  /** Updates applied so far. */
  step: number;
  /** First and second moments, one pair per variable, in constructor order. */
  m: tf.Tensor[];
  v: tf.Tensor[];
}

export class NativeAdam {
  private readonly variables: tf.Variable[];
  private readonly weights: ResourceVariable[];
  private readonly m: ResourceVariable[];
  private readonly v: ResourceVariable[];
  private readonly learningRates: number[];
  private readonly constants: { beta1: tf.Scalar; beta2: tf.Scalar; epsilon: tf.Scalar };
  private step = 0;

  /** `learningRates[i]` is the learning rate of `variables[i]`. */
  constructor(variables: tf.Variable[], learningRates: number[]) {
    if (learningRates.length !== variables.length)
      throw new Error("NativeAdam: one learning rate per variable");
    this.variables = variables;
    this.weights = variables.map((v) => new ResourceVariable(v));
    this.m = variables.map(zeroResource);
    this.v = variables.map(zeroResource);
    this.learningRates = learningRates;
    this.constants = {
      beta1: tf.scalar(BETA1),
      beta2: tf.scalar(BETA2),
      epsilon: tf.scalar(EPSILON),
    };
  }

  get iterations(): number {
    return this.step;
  }

  /** Current weights as fresh tensors, in constructor order (dispose them before `apply`: a live read forces a copy). */
  read(): tf.Tensor[] {
    return this.weights.map((w) => w.read());
  }

  /** One update; every learning rate is multiplied by `lrScale` (a schedule's value for this step). */
  apply(grads: tf.Tensor[], lrScale = 1): void {
    const b = backend().binding;
    const attrs: OpAttr[] = [
      { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
      { name: "use_locking", type: b.TF_ATTR_BOOL, value: false },
      { name: "use_nesterov", type: b.TF_ATTR_BOOL, value: false },
    ];
    const t = this.step + 1;
    tf.tidy(() => {
      const beta1Power = tf.scalar(BETA1 ** t);
      const beta2Power = tf.scalar(BETA2 ** t);
      const { beta1, beta2, epsilon } = this.constants;
      const rates = new Map([...new Set(this.learningRates)].map((lr) => [lr, tf.scalar(lr * lrScale)]));
      grads.forEach((grad, i) => {
        const inputs = [this.weights[i], this.m[i], this.v[i]].map((r) => (r as ResourceVariable).handle);
        backend().executeMultipleOutputs(
          "ResourceApplyAdam",
          attrs,
          [
            ...inputs,
            beta1Power,
            beta2Power,
            rates.get(this.learningRates[i] as number) as tf.Scalar,
            beta1,
            beta2,
            epsilon,
            grad,
          ],
          0,
        );
      });
    });
    this.step = t;
  }

  /** Writes the current weights into the tfjs variables this optimiser was built from. */
  copyToVariables(): void {
    this.variables.forEach((variable, i) => {
      const value = (this.weights[i] as ResourceVariable).read();
      variable.assign(value);
      value.dispose();
    });
  }

  /** Takes the weights from the tfjs variables (after they were loaded from a checkpoint). */
  copyFromVariables(): void {
    this.variables.forEach((variable, i) => {
      (this.weights[i] as ResourceVariable).write(variable);
    });
  }

  getState(): AdamState {
    return { step: this.step, m: this.m.map((r) => r.read()), v: this.v.map((r) => r.read()) };
  }

  setState(state: AdamState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new Error(`optimizer state holds ${state.m.length} variables, the model ${this.m.length}`);
    }
    state.m.forEach((value, i) => {
      (this.m[i] as ResourceVariable).write(value);
    });
    state.v.forEach((value, i) => {
      (this.v[i] as ResourceVariable).write(value);
    });
    this.step = state.step;
  }

  dispose(): void {
    for (const r of [...this.weights, ...this.m, ...this.v]) r.dispose();
    tf.dispose([this.constants.beta1, this.constants.beta2, this.constants.epsilon]);
  }
}
