import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcomeRules } from '../../infra/event-rules.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { logicalIdOf, type StackFixture, synthStack } from './stack-fixture.ts';

/** Outcomes and reviewers' verdicts: the archive and the webhook take both. */
const allOutcomes = {
  source: [pipelineSettings.events.source],
  'detail-type': [pipelineSettings.events.detailType, pipelineSettings.events.reviewDetailType],
};

describe('outcome events: bus, shared rules, archive', () => {
  let fx: StackFixture;

  beforeAll(() => {
    fx = synthStack();
  });
  afterAll(() => fx.cleanup());

  it('deploys each shared rule on the custom bus with exactly its pattern and a queue target with a DLQ', () => {
    // Prepare
    const bus = logicalIdOf(fx.template, 'AWS::Events::EventBus', 'EventsBus');
    const queues = { reviewQueue: 'QueuesReview', opsQueue: 'QueuesOps' };
    // Act / Assess
    expect(outcomeRules.length).toBeGreaterThan(0);
    for (const rule of outcomeRules) {
      const prefix = queues[rule.target];
      fx.template.hasResourceProperties('AWS::Events::Rule', {
        Name: rule.id,
        Description: rule.description,
        EventBusName: { Ref: bus },
        EventPattern: Match.objectEquals(rule.pattern),
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [logicalIdOf(fx.template, 'AWS::SQS::Queue', `${prefix}Queue`), 'Arn'] },
            DeadLetterConfig: {
              Arn: { 'Fn::GetAtt': [logicalIdOf(fx.template, 'AWS::SQS::Queue', `${prefix}Dlq`), 'Arn'] },
            },
          }),
        ],
      });
    }
    fx.template.resourceCountIs('AWS::Events::Rule', outcomeRules.length);
  });

  it('lets EventBridge send to each target queue and its DLQ only on behalf of the rule', () => {
    // Prepare
    const sendFromRule = Match.objectLike({
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Condition: {
        ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventsRule'), 'Arn'] } },
      },
    });
    // Act / Assess
    for (const queue of ['QueuesReviewQueue', 'QueuesReviewDlq', 'QueuesOpsQueue', 'QueuesOpsDlq']) {
      fx.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalIdOf(fx.template, 'AWS::SQS::Queue', queue) }],
        PolicyDocument: { Statement: Match.arrayWith([sendFromRule]) },
      });
    }
  });

  it('archives every outcome event for replay with the configured retention', () => {
    // Prepare
    const custom = synthStack({ eventArchiveRetentionDays: 365 });
    try {
      // Act / Assess
      fx.template.hasResourceProperties('AWS::Events::Archive', {
        EventPattern: allOutcomes,
        RetentionDays: 90,
        SourceArn: { 'Fn::GetAtt': [logicalIdOf(fx.template, 'AWS::Events::EventBus', 'EventsBus'), 'Arn'] },
      });
      custom.template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 365 });
    } finally {
      custom.cleanup();
    }
  });

  it('has no webhook resources unless a webhook is configured', () => {
    // Prepare / Act: default props
    // Assess
    fx.template.resourceCountIs('AWS::Events::Connection', 0);
    fx.template.resourceCountIs('AWS::Events::ApiDestination', 0);
  });
});

describe('outcome events: optional webhook', () => {
  it('creates an API-key connection from a generated secret, an API destination and a rule for all outcomes', () => {
    // Prepare
    const fx = synthStack({ webhook: { endpointUrl: 'https://hooks.example.com/liveness' } });
    try {
      const secret = logicalIdOf(fx.template, 'AWS::SecretsManager::Secret', 'EventsWebhookApiKey');
      const destination = logicalIdOf(fx.template, 'AWS::Events::ApiDestination', 'EventsWebhookDestination');
      const dlq = logicalIdOf(fx.template, 'AWS::SQS::Queue', 'EventsWebhookDlq');
      // Act / Assess
      fx.template.hasResourceProperties('AWS::Events::Connection', {
        AuthorizationType: 'API_KEY',
        AuthParameters: {
          ApiKeyAuthParameters: {
            ApiKeyName: 'x-api-key',
            ApiKeyValue: {
              'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secret }, ':SecretString:::}}']],
            },
          },
        },
      });
      fx.template.hasResourceProperties('AWS::Events::ApiDestination', {
        InvocationEndpoint: 'https://hooks.example.com/liveness',
        HttpMethod: 'POST',
        InvocationRateLimitPerSecond: 10,
      });
      fx.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: Match.objectEquals(allOutcomes),
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [destination, 'Arn'] },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
          }),
        ],
      });
      fx.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      });
    } finally {
      fx.cleanup();
    }
  });

  it('uses an existing secret, JSON field and header when given', () => {
    // Prepare
    const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:webhook-key-AbCdEf';
    const fx = synthStack({
      webhook: {
        endpointUrl: 'https://hooks.example.com/x',
        apiKeySecretArn: arn,
        apiKeySecretField: 'key',
        apiKeyHeaderName: 'X-Webhook-Key',
      },
    });
    try {
      // Act / Assess
      fx.template.hasResourceProperties('AWS::Events::Connection', {
        AuthParameters: {
          ApiKeyAuthParameters: {
            ApiKeyName: 'X-Webhook-Key',
            ApiKeyValue: `{{resolve:secretsmanager:${arn}:SecretString:key::}}`,
          },
        },
      });
      expect(Object.keys(fx.template.findResources('AWS::SecretsManager::Secret'))).toHaveLength(1);
    } finally {
      fx.cleanup();
    }
  });
});
