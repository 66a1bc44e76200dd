/** Axis ticks at round numbers, and their labels in the units the tables use. */

/** How a tick reads: plain, percent (values are fractions, 0.925 reads "92.5 %") or signed (+0.5). */
export type TickFormat = "number" | "percent" | "signed";

/** Display units per data unit: percent axes take fractions and show percent. */
export function displayScale(format: TickFormat): number {
  return format === "percent" ? 100 : 1;
}

/** A step of 1, 2, 2.5 or 5 times a power of ten that cuts [min, max] into about `count` pieces. */
export function niceStep(min: number, max: number, count: number): number {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
}

const round = (v: number) => Number(v.toFixed(10));

/**
 * Ticks every nice step from a multiple at or below `min` to one at or above `max`, so the first
 * and last tick enclose every value; at least two ticks.
 */
export function spanningTicks(min: number, max: number, count: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max)
    throw new Error(`ticks need a finite range, got [${min}, ${max}]`);
  const step = niceStep(min, max, count);
  let first = Math.floor(min / step + 1e-9);
  let last = Math.ceil(max / step - 1e-9);
  if (first === last) {
    first -= 1;
    last += 1;
  }
  return Array.from({ length: last - first + 1 }, (_, i) => round((first + i) * step));
}

/** Ticks every `step` inside [min, max] (for an axis whose ends are the data's). */
export function innerTicks(min: number, max: number, step: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) ticks.push(round(k * step));
  return ticks;
}

/** Decimals that show every tick of a step exactly: 0.25 -> 2, 2.5 -> 1, 5 -> 0. */
export function decimalsFor(step: number): number {
  let decimals = 0;
  while (decimals < 10 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6)
    decimals++;
  return decimals;
}

/** A tick's label; `value` is in display units, `step` the ticks' spacing. */
export function tickLabel(value: number, step: number, format: TickFormat): string {
  const fixed = value.toFixed(decimalsFor(step));
  if (format === "percent") return `${fixed} %`;
  if (format === "signed") return value > 0 ? `+${fixed}` : Number(fixed) === 0 ? "0" : fixed;
  return Math.abs(value) >= 10_000 ? Number(fixed).toLocaleString("en") : fixed;
}
