/** Learning-rate schedules as a multiplier of the base rate, a pure function of the optimiser step (so a resumed run continues the curve). */

export const LR_SCHEDULES = ["constant", "cosine"] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export interface ScheduleSpec {
  schedule: LrSchedule;
  /** Optimiser steps of the whole run. */
  totalSteps: number;
  /** Linear warm-up steps from lr / warmupSteps to lr (cosine only; 0 = none). */
  warmupSteps: number;
  /** The multiplier the cosine ends at (fraction of lr). */
  finalFraction: number;
}

/** Multiplier of lr for update number `step` (0-based). */
export function learningRateScale(spec: ScheduleSpec, step: number): number {
  if (spec.schedule === "constant") return 1;
  if (step < spec.warmupSteps) return (step + 1) / spec.warmupSteps;
  const span = Math.max(1, spec.totalSteps - spec.warmupSteps);
  const progress = Math.min(1, (step - spec.warmupSteps) / span);
  return spec.finalFraction + (1 - spec.finalFraction) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
