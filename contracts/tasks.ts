// Tasks are data: a name, class names, and where each Fashion-MNIST label goes.

export const SOURCE_CLASSES = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
] as const;

export interface TaskSpec {
  name: string;
  classes: string[];
  /** labelMap[sourceLabel] = class index in this task. */
  labelMap: number[];
}

export const BUILTIN_TASKS: Record<string, TaskSpec> = {
  fashion: { name: "fashion", classes: [...SOURCE_CLASSES], labelMap: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
  category: {
    name: "category",
    classes: ["Shoes", "For women", "Other"],
    // Shoes = {5, 7, 9}; For women = {3, 6, 8}; Other = {0, 1, 2, 4}
    labelMap: [2, 2, 2, 1, 2, 0, 1, 0, 1, 0],
  },
};

export const DEFAULT_TASKS: TaskSpec[] = [
  BUILTIN_TASKS.fashion as TaskSpec,
  BUILTIN_TASKS.category as TaskSpec,
];

export const TASK_NAME = /^[a-z][a-z0-9_]*$/;

export class TaskFileError extends Error {
  override name = "TaskFileError";
}

/** Checks one task; `where` names it in messages (e.g. "tasks.json: tasks[2]"). */
export function validateTask(value: unknown, where: string): TaskSpec {
  const fail = (message: string): never => {
    throw new TaskFileError(`${where}: ${message}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail('expected an object {"name", "classes", "labelMap"} or the name of a built-in task');
  }
  const { name, classes, labelMap, ...extra } = value as Record<string, unknown>;
  const unknownKeys = Object.keys(extra);
  if (unknownKeys.length) fail(`unknown key "${unknownKeys[0]}"`);
  if (typeof name !== "string" || !TASK_NAME.test(name)) {
    fail(`name must be lower_snake_case (letters, digits, _), got ${JSON.stringify(name)}`);
  }
  if (!Array.isArray(classes) || classes.length < 2) fail("classes must be an array of at least 2 names");
  const classNames = classes as unknown[];
  classNames.forEach((className, index) => {
    if (typeof className !== "string" || !className.trim())
      fail(`classes[${index}] must be a non-empty string`);
    if (classNames.indexOf(className) !== index) fail(`classes[${index}] "${className}" is listed twice`);
  });
  if (!Array.isArray(labelMap) || labelMap.length !== SOURCE_CLASSES.length) {
    fail(`labelMap must map each of the ${SOURCE_CLASSES.length} source labels (0-9) to a class index`);
  }
  const map = labelMap as unknown[];
  map.forEach((classIndex, sourceLabel) => {
    if (
      !Number.isInteger(classIndex) ||
      (classIndex as number) < 0 ||
      (classIndex as number) >= classNames.length
    ) {
      fail(
        `labelMap[${sourceLabel}] (${SOURCE_CLASSES[sourceLabel]}) must be a class index 0-${classNames.length - 1}, got ${JSON.stringify(classIndex)}`,
      );
    }
  });
  classNames.forEach((className, index) => {
    if (!map.includes(index))
      fail(`class ${index} "${className}" receives no source label (class indices must be dense)`);
  });
  return { name: name as string, classes: classNames as string[], labelMap: map as number[] };
}

/** Validates a parsed task file: {"tasks": [ "fashion" | {name, classes, labelMap}, ... ]}. */
export function parseTaskFile(value: unknown, file: string): TaskSpec[] {
  const tasks = (value as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks) || tasks.length === 0) {
    throw new TaskFileError(`${file}: expected {"tasks": [...]} with at least one task`);
  }
  const parsed = tasks.map((entry, index) => {
    const where = `${file}: tasks[${index}]`;
    if (typeof entry === "string") {
      const builtin = BUILTIN_TASKS[entry];
      if (!builtin) {
        throw new TaskFileError(
          `${where}: unknown built-in task "${entry}" (built-in: ${Object.keys(BUILTIN_TASKS).join(", ")})`,
        );
      }
      return builtin;
    }
    return validateTask(entry, where);
  });
  parsed.forEach((task, index) => {
    if (parsed.findIndex((other) => other.name === task.name) !== index) {
      throw new TaskFileError(`${file}: tasks[${index}]: task name "${task.name}" is used twice`);
    }
  });
  return parsed;
}

/** A run's tasks.json: the task list in tower order, bare or as a task file {"tasks": [...]}. */
export function parseRunTasks(value: unknown, file: string): TaskSpec[] {
  if (!Array.isArray(value)) return parseTaskFile(value, file);
  if (value.length === 0) throw new TaskFileError(`${file} lists no task`);
  const parsed = value.map((entry, index) => validateTask(entry, `${file}: [${index}]`));
  parsed.forEach((task, index) => {
    if (parsed.findIndex((other) => other.name === task.name) !== index) {
      throw new TaskFileError(`${file}: [${index}]: task name "${task.name}" is used twice`);
    }
  });
  return parsed;
}

/** The task's class index for every source label. */
export function taskLabels(task: TaskSpec, sourceLabels: Uint8Array): Int32Array {
  const out = new Int32Array(sourceLabels.length);
  for (let i = 0; i < sourceLabels.length; i++) out[i] = task.labelMap[sourceLabels[i] as number] as number;
  return out;
}

/**
 * A coarse task answered through a finer one: the finer head's answer mapped to its group, e.g.
 * "category" read off the "fashion" head. It is the fair baseline for a relabelling task, and
 * the export serves it instead of the coarse head where the validation split prefers it.
 */
export interface Derivation {
  /** Tower index of the finer task. */
  from: number;
  /** Tower index of the coarse task whose labels it is scored against. */
  to: number;
  /** classMap[fine class] = coarse class. */
  classMap: number[];
}

/**
 * Every pair where one task's classes each fall wholly inside one class of a coarser task,
 * named "<coarse>_from_<fine>" (for the default tasks: category_from_fashion).
 */
export function derivations(tasks: readonly TaskSpec[]): (Derivation & { name: string })[] {
  const found: (Derivation & { name: string })[] = [];
  tasks.forEach((fine, from) => {
    tasks.forEach((coarse, to) => {
      if (from === to || fine.classes.length <= coarse.classes.length) return;
      const classMap = fine.classes.map(() => -1);
      const consistent = fine.labelMap.every((fineClass, source) => {
        const coarseClass = coarse.labelMap[source] as number;
        if (classMap[fineClass] === -1) classMap[fineClass] = coarseClass;
        return classMap[fineClass] === coarseClass;
      });
      if (consistent) found.push({ name: `${coarse.name}_from_${fine.name}`, from, to, classMap });
    });
  });
  return found;
}
