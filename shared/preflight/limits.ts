import { z } from 'zod';

/**
 * What preflight accepts and produces. One schema, so limits read from the environment, the CLI
 * or a test are validated the same way.
 */
export const preflightLimitsSchema = z
  .object({
    /** Largest upload accepted, checked before anything else. */
    maxBytes: z.number().int().positive(),
    /** Largest width × height accepted, read from the header before any pixel is decoded. */
    maxPixels: z.number().int().positive(),
    /** Smallest width accepted, after EXIF orientation. */
    minWidth: z.number().int().positive(),
    /** Smallest height accepted, after EXIF orientation. */
    minHeight: z.number().int().positive(),
    /** The re-encoded JPEG is shrunk to fit this many pixels on its long side, never enlarged. */
    maxLongSide: z.number().int().positive(),
    /** Quality of the re-encoded JPEG, 1–100. */
    jpegQuality: z.number().int().min(1).max(100),
  })
  .refine((limits) => limits.minWidth <= limits.maxLongSide && limits.minHeight <= limits.maxLongSide, {
    message:
      'minWidth and minHeight must not exceed maxLongSide, or an accepted image would be shrunk below them',
  });

export type PreflightLimits = z.infer<typeof preflightLimitsSchema>;

const MiB = 1024 * 1024;

export const defaultPreflightLimits: PreflightLimits = Object.freeze({
  /**
   * 5 MiB: the per-image limit peers of the vendor publish (docs/vendor-contract.md); the vendor states
   * none. It bounds the upload, not the request: what is sent is the re-encoded JPEG, far smaller.
   */
  maxBytes: 5 * MiB,
  /** 40 MP: above any phone camera's selfie, far below sharp's default of about 268 MP. */
  maxPixels: 40_000_000,
  /**
   * 100 px: only refuses what no liveness check can use. One peer asks for at least 600×600
   * (docs/vendor-contract.md); raise minWidth/minHeight (or PREFLIGHT_MIN_SIDE) if this vendor turns out
   * to want the same.
   */
  minWidth: 100,
  minHeight: 100,
  /** 1280 px: enough detail for a face, and keeps the base64 request small. */
  maxLongSide: 1280,
  jpegQuality: 90,
});

/** Overrides as configuration delivers them: any field may be missing or undefined. */
export type PreflightLimitOverrides = { [K in keyof PreflightLimits]?: number | undefined } & {
  /** Sets both minWidth and minHeight, unless those are given themselves. */
  minSide?: number | undefined;
};

/** Defaults merged with the overrides that are defined, then validated; throws naming each bad field. */
export function preflightLimitsFrom(overrides: PreflightLimitOverrides = {}): PreflightLimits {
  const { minSide, ...fields } = overrides;
  const merged: Record<string, number> = { ...defaultPreflightLimits };
  if (minSide !== undefined) {
    merged.minWidth = minSide;
    merged.minHeight = minSide;
  }
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) merged[key] = value;
  }
  const parsed = preflightLimitsSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || 'limits'}: ${issue.message}`)
      .join('; ');
    throw new Error(`Invalid preflight limits: ${problems}`);
  }
  return parsed.data;
}
