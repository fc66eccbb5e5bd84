import type { Node } from 'constructs';
import type { z } from 'zod';
import { type LivenessBatchStackProps, stackSettingsSchema } from './props.ts';

/** The webhook's fields under their flattened context keys (`webhookUrl`, `webhookApiKeySecretArn`, …). */
const webhookKeys = {
  endpointUrl: 'webhookUrl',
  apiKeySecretArn: 'webhookApiKeySecretArn',
  apiKeySecretField: 'webhookApiKeySecretField',
  apiKeyHeaderName: 'webhookApiKeyHeaderName',
  rateLimitPerSecond: 'webhookRateLimitPerSecond',
} as const;

/**
 * Stack props from CDK context (`cdk deploy -c workerMaxConcurrency=8`, or `context` in cdk.json).
 * Keys are the prop names of `stackSettingsSchema`, walked here, so a new prop is a context key
 * without a change here; the webhook's are flattened. Validation happens once, in `resolveSettings`.
 */
export function propsFromContext(node: Node): LivenessBatchStackProps {
  const shape = stackSettingsSchema.in.shape;
  const read = (key: string, schema: z.ZodType): unknown => {
    const value = node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (!acceptsNumber(schema)) return String(value);
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw new Error(`Context ${key} must be a number, got "${value}"`);
    return parsed;
  };

  const props: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(shape)) {
    if (name === 'webhook') continue;
    const value = read(name, schema);
    if (value !== undefined) props[name] = value;
  }
  const webhookShape = shape.webhook.unwrap().shape;
  const webhook: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(webhookKeys)) {
    const value = read(key, webhookShape[field as keyof typeof webhookKeys]);
    if (value !== undefined) webhook[field] = value;
  }
  if (webhook.endpointUrl !== undefined) props.webhook = webhook;
  return props as LivenessBatchStackProps;
}

/** True when the prop is a number (under its optional/default wrappers): context strings become numbers. */
function acceptsNumber(schema: z.ZodType): boolean {
  const def = schema._zod.def as { type: string; innerType?: z.ZodType };
  if (def.innerType) return acceptsNumber(def.innerType);
  return def.type === 'number';
}
