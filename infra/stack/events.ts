import { Duration, SecretValue, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { pipelineSettings } from '../../shared/settings.ts';
import { outcomeRules, type RuleTarget } from '../event-rules.ts';
import type { ResolvedSettings } from './props.ts';
import { acknowledgeFailureDestination, type QueueWithDlq, secureQueue } from './queues.ts';

/**
 * Every outcome event, whatever its decision, and every reviewer's verdict: what the archive and the
 * webhook take. Review events are put by `liveness-batch review` with the operator's credentials.
 */
const allOutcomes: Record<string, unknown> = {
  source: [pipelineSettings.events.source],
  'detail-type': [pipelineSettings.events.detailType, pipelineSettings.events.reviewDetailType],
};

const patternKeys: Record<string, keyof events.EventPattern> = {
  version: 'version',
  id: 'id',
  'detail-type': 'detailType',
  source: 'source',
  account: 'account',
  time: 'time',
  region: 'region',
  resources: 'resources',
  detail: 'detail',
};

/**
 * The shared rules are written as EventBridge JSON (so the local bus can match them as they are);
 * the L2 `EventPattern` spells `detail-type` as `detailType`. Synthesis turns it back.
 */
export function toEventPattern(pattern: Record<string, unknown>): events.EventPattern {
  const converted: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pattern)) {
    const cdkKey = patternKeys[key];
    if (!cdkKey) throw new Error(`Unsupported top-level event pattern key: ${key}`);
    converted[cdkKey] = value;
  }
  return converted as events.EventPattern;
}

export interface EventsProps {
  readonly settings: ResolvedSettings;
  readonly targets: Record<RuleTarget, QueueWithDlq>;
}

/** The outcome bus, its shared rules with queue targets, a replay archive and the optional webhook. */
export class OutcomeEvents extends Construct {
  readonly bus: events.EventBus;
  readonly archive: events.Archive;
  readonly webhookDlq: sqs.Queue | undefined;
  readonly webhookApiKeySecret: secretsmanager.ISecret | undefined;

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id);
    const { settings } = props;
    this.bus = new events.EventBus(this, 'Bus', { description: 'Selfie verification outcomes' });

    this.archive = this.bus.archive('Archive', {
      description: 'Every outcome event, for replay after a subscriber outage',
      eventPattern: toEventPattern(allOutcomes),
      // Duration.days(0) is "keep forever" for an archive.
      retention: Duration.days(settings.eventArchiveRetentionDays),
    });

    for (const rule of outcomeRules) {
      const target = props.targets[rule.target];
      new events.Rule(this, `Rule-${rule.id}`, {
        eventBus: this.bus,
        ruleName: rule.id,
        description: rule.description,
        eventPattern: toEventPattern(rule.pattern),
        // Failed deliveries land in the target queue's own DLQ, which is alarmed.
        targets: [new targets.SqsQueue(target.queue, { deadLetterQueue: target.dlq })],
      });
    }

    if (settings.webhook) {
      const webhook = settings.webhook;
      this.webhookDlq = secureQueue(this, 'WebhookDlq');
      acknowledgeFailureDestination(this.webhookDlq, "the webhook target's dead-letter queue");
      this.webhookApiKeySecret = webhook.apiKeySecretArn
        ? secretsmanager.Secret.fromSecretCompleteArn(this, 'WebhookApiKey', webhook.apiKeySecretArn)
        : this.generatedWebhookKey();
      const apiKey = SecretValue.secretsManager(this.webhookApiKeySecret.secretArn, {
        ...(webhook.apiKeySecretField && { jsonField: webhook.apiKeySecretField }),
      });
      const connection = new events.Connection(this, 'WebhookConnection', {
        description: 'API-key authorization for the outcome webhook',
        authorization: events.Authorization.apiKey(webhook.apiKeyHeaderName, apiKey),
      });
      const destination = new events.ApiDestination(this, 'WebhookDestination', {
        connection,
        endpoint: webhook.endpointUrl,
        httpMethod: events.HttpMethod.POST,
        rateLimitPerSecond: webhook.rateLimitPerSecond,
      });
      new events.Rule(this, 'Rule-webhook', {
        eventBus: this.bus,
        description: 'Every outcome event to the webhook',
        eventPattern: toEventPattern(allOutcomes),
        targets: [
          new targets.ApiDestination(destination, {
            deadLetterQueue: this.webhookDlq,
            retryAttempts: 185,
            maxEventAge: Duration.hours(24),
          }),
        ],
      });
    }
  }

  private generatedWebhookKey(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'WebhookApiKey', {
      description: 'API key the outcome webhook receives; share it with the receiver or replace it',
      generateSecretString: { excludePunctuation: true, passwordLength: 40 },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The webhook receiver must learn a new key before it changes; rotation is a manual, agreed step.',
    });
    return secret;
  }
}
