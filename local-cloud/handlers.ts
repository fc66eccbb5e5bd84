import { pathToFileURL } from 'node:url';
import type { processUploadEvent } from '../functions/enqueue.ts';
import type { processResultStream } from '../functions/publish.ts';
import type { processWorkerEvent } from '../functions/worker.ts';
import type { HandlerName } from '../infra/bundling.ts';
import { bundleHandlers } from './bundles.ts';

/** The handler functions the local host drives, with the runtime it builds for each. */
export interface PipelineHandlers {
  processUploadEvent: typeof processUploadEvent;
  processWorkerEvent: typeof processWorkerEvent;
  processResultStream: typeof processResultStream;
  /** "source", or the folder of the bundles they were loaded from. */
  origin: string;
}

/** Where the handlers come from: the TypeScript source (through tsx), or bundles built as the stack builds them. */
export type HandlerSource =
  | { kind: 'source' }
  | { kind: 'bundled'; dir: string; entries?: Partial<Record<HandlerName, string>> };

const exported = {
  enqueue: 'processUploadEvent',
  worker: 'processWorkerEvent',
  publish: 'processResultStream',
} as const satisfies Record<HandlerName, keyof PipelineHandlers>;

export async function loadPipelineHandlers(from: HandlerSource): Promise<PipelineHandlers> {
  if (from.kind === 'source') {
    const [enqueue, worker, publish] = await Promise.all([
      import('../functions/enqueue.ts'),
      import('../functions/worker.ts'),
      import('../functions/publish.ts'),
    ]);
    return {
      processUploadEvent: enqueue.processUploadEvent,
      processWorkerEvent: worker.processWorkerEvent,
      processResultStream: publish.processResultStream,
      origin: 'source',
    };
  }
  const bundles = await bundleHandlers(from.dir, from.entries);
  const loaded: Record<string, unknown> = {};
  for (const name of Object.keys(exported) as HandlerName[]) {
    // Importing a bundle runs its top level as a Lambda cold start does: a require() of a package
    // missing from the asset, or a native module built for another machine, fails here.
    let module: Record<string, unknown>;
    try {
      module = await import(pathToFileURL(bundles[name].file).href);
    } catch (error) {
      throw new BundleLoadError(name, bundles[name].file, error);
    }
    const fn = module[exported[name]];
    if (typeof fn !== 'function' || typeof module.handler !== 'function') {
      throw new BundleLoadError(
        name,
        bundles[name].file,
        new Error(`it exports no ${exported[name]} and handler`),
      );
    }
    loaded[exported[name]] = fn;
  }
  return { ...(loaded as Omit<PipelineHandlers, 'origin'>), origin: from.dir };
}

/** A bundle that does not load: what a Lambda would fail with at its first cold start. */
export class BundleLoadError extends Error {
  constructor(handler: HandlerName, file: string, cause: unknown) {
    super(
      `The ${handler} bundle (${file}) does not load, so the deployed Lambda would fail at its cold start: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.name = 'BundleLoadError';
  }
}
