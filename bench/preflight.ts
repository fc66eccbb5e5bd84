/**
 * Preflight's cost per image as a ratio to sharp's bare decode + orient + resize + encode of the
 * same bytes, measured interleaved in this process (the machine is shared: only the ratio means
 * something). The baseline uses what preflight uses: the constructor's autoOrient, fit 'inside'
 * without enlargement to the long side limit, JPEG at the same quality.
 */
import sharp from 'sharp';
import { defaultPreflightLimits, preflightSelfie } from '../shared/preflight/index.ts';
import { jpegOfSize } from '../testkit/images.ts';
import { type BenchOptions, type BenchRow, fixed, judged, median } from './table.ts';

const SIZES = [
  [640, 480],
  [1920, 1080],
  [4000, 3000],
] as const;
const TARGET_RATIO = 1.2;

/** sharp alone: decode, orient, resize to preflight's long side, encode (the machine's yardstick). */
export async function bareSharp(bytes: Buffer): Promise<void> {
  const side = defaultPreflightLimits.maxLongSide;
  await sharp(bytes, { autoOrient: true })
    .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: defaultPreflightLimits.jpegQuality })
    .toBuffer();
}

async function preflight(bytes: Buffer): Promise<void> {
  const result = await preflightSelfie(bytes, defaultPreflightLimits);
  if (!result.ok) throw new Error(`preflight rejected a benchmark image: ${result.rejection.message}`);
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export async function benchPreflight(options: BenchOptions): Promise<BenchRow[]> {
  const iterations = options.quick ? 11 : 41;
  const rows: BenchRow[] = [];
  for (const [width, height] of SIZES) {
    const bytes = await jpegOfSize(width, height, width);
    for (let i = 0; i < 3; i++) {
      await bareSharp(bytes);
      await preflight(bytes);
    }
    const bareMs: number[] = [];
    const preflightMs: number[] = [];
    for (let i = 0; i < iterations; i++) {
      // Alternate which goes first, so neither always runs on a warmer cache.
      if (i % 2 === 0) {
        bareMs.push(await timed(() => bareSharp(bytes)));
        preflightMs.push(await timed(() => preflight(bytes)));
      } else {
        preflightMs.push(await timed(() => preflight(bytes)));
        bareMs.push(await timed(() => bareSharp(bytes)));
      }
    }
    const ratio = median(preflightMs) / median(bareMs);
    options.log(
      `preflight ${width}x${height}: preflight ${fixed(median(preflightMs), 1)} ms, bare ${fixed(median(bareMs), 1)} ms`,
    );
    rows.push(
      judged(
        {
          section: 'preflight',
          metric: `${width}×${height} JPEG (${(bytes.length / 1024).toFixed(0)} KiB): preflight / bare sharp, medians of ${iterations}`,
          value: `${fixed(ratio)} (${fixed(median(preflightMs), 1)} ms / ${fixed(median(bareMs), 1)} ms)`,
        },
        `≤ ${TARGET_RATIO}`,
        ratio <= TARGET_RATIO,
      ),
    );
  }
  return rows;
}
