import type { BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/**
 * How every Lambda of the stack is bundled: the one definition the CDK stack
 * (infra/stack/functions.ts), `liveness-batch run|up --bundled` and the cold-start bench build
 * with (local-cloud/bundles.ts maps it onto esbuild's own option names). Type-only CDK imports,
 * so the CLI reads it without loading aws-cdk-lib.
 */
export const lambdaBundling = {
  forceDockerBundling: false,
  format: 'esm' as OutputFormat.ESM,
  mainFields: ['module', 'main'],
  // CJS dependencies call require(); ESM output has none unless we create it.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  target: 'node24',
  sourceMap: true,
  minify: true,
  // Ship the SDK versions the tests ran against, not whichever the runtime carries.
  bundleAwsSDK: true,
} satisfies BundlingOptions;

/** The handler files the stack deploys (infra/stack/liveness-batch-stack.ts names the same). */
export const handlerEntries = {
  enqueue: 'functions/enqueue.ts',
  worker: 'functions/worker.ts',
  publish: 'functions/publish.ts',
} as const;
export type HandlerName = keyof typeof handlerEntries;

/** Native packages installed beside a bundle instead of bundled (the stack's `nativeModules`). */
export const handlerNativeModules: Readonly<Partial<Record<HandlerName, readonly string[]>>> = {
  worker: ['sharp'],
};
