import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';

export interface VendorCredentials {
  userId: string;
  apiKey: string;
}

/** The secret's value, as the operator stores it (README, "Rotate the API key"). */
const vendorSecretSchema = z.object({ userid: z.string().min(1), apiKey: z.string().min(1) });

/**
 * Credentials come from Secrets Manager on AWS (read once per cold start by the caller) or from
 * plain configuration on the local host. The error never includes the secret's value.
 */
export async function loadVendorCredentials(
  source: { secretArn?: string; userId?: string; apiKey?: string },
  secrets: () => SecretsManagerClient,
): Promise<VendorCredentials> {
  if (source.secretArn) {
    const out = await secrets().send(new GetSecretValueCommand({ SecretId: source.secretArn }));
    let json: unknown;
    try {
      json = JSON.parse(out.SecretString ?? '');
    } catch {
      throw new Error(
        `Vendor secret ${source.secretArn} is not JSON; expected {"userid": "...", "apiKey": "..."}`,
      );
    }
    const parsed = vendorSecretSchema.safeParse(json);
    if (!parsed.success) {
      throw new Error(`Vendor secret ${source.secretArn} needs string fields "userid" and "apiKey"`);
    }
    return { userId: parsed.data.userid, apiKey: parsed.data.apiKey };
  }
  if (source.userId && source.apiKey) return { userId: source.userId, apiKey: source.apiKey };
  throw new Error(
    'No vendor credentials: set VENDOR_SECRET_ARN (AWS) or VENDOR_USER_ID and VENDOR_API_KEY (local)',
  );
}
