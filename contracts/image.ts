// The image every stage agrees on: Fashion-MNIST's 28x28 grayscale, light object on black.
import { z } from "zod";

export const IMAGE_SIZE = 28;
export const IMAGE_CHANNELS = 1;
export const PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE;

export const modelInputSchema = z.object({
  name: z.string().min(1),
  /** -1 marks the batch dimension. */
  shape: z.array(z.number().int()),
  layout: z.enum(["NHWC", "NCHW"]),
  dtype: z.literal("float32"),
  height: z.literal(IMAGE_SIZE),
  width: z.literal(IMAGE_SIZE),
  channels: z.literal(IMAGE_CHANNELS),
  /** Training images are light objects on a dark background. */
  background: z.literal("dark"),
});

export type ModelInput = z.infer<typeof modelInputSchema>;

/** The one input every trained model and exported graph takes: a batch of standardized images, NHWC. */
export const MODEL_INPUT: ModelInput = {
  name: "image",
  shape: [-1, IMAGE_SIZE, IMAGE_SIZE, IMAGE_CHANNELS],
  layout: "NHWC",
  dtype: "float32",
  height: IMAGE_SIZE,
  width: IMAGE_SIZE,
  channels: IMAGE_CHANNELS,
  background: "dark",
};
