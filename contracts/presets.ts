/** The training presets `npm run train -- --preset` and `npm run pipeline -- --preset` accept (their flag values live in train/config.ts). */
export const TRAINING_PRESETS = ["reference", "beyond"] as const;
export type Preset = (typeof TRAINING_PRESETS)[number];
