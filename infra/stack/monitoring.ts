import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DECISIONS, type Decision } from '../../shared/decision.ts';
import { METRIC_NAMESPACE, metricNames } from '../../shared/metric-names.ts';
import type { ServiceNames } from './functions.ts';
import { customerManagedKey } from './keys.ts';
import type { ResolvedSettings } from './props.ts';

export interface MonitoringProps {
  readonly settings: ResolvedSettings;
  readonly serviceNames: ServiceNames;
  readonly functions: { enqueue: lambda.IFunction; worker: lambda.IFunction; publish: lambda.IFunction };
  readonly workQueue: sqs.IQueue;
  /** Outcomes waiting for a human; an old message there means nobody is reviewing. */
  readonly reviewQueue: sqs.IQueue;
  /** Queues where any message means an operator must look (DLQs, the stream's on-failure queue). */
  readonly deadLetterQueues: Record<string, sqs.IQueue>;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * Alarms to an encrypted SNS topic, and one dashboard. The handlers emit EMF metrics through
 * Powertools in namespace `LivenessBatch`, dimensioned by `service` (POWERTOOLS_SERVICE_NAME of the
 * emitting function), plus `decision` on Decisions and `reason` on PreflightRejections.
 */
export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { settings, serviceNames, functions } = props;

    // CloudWatch can only publish to an encrypted topic whose key lets it; the AWS-managed SNS key does not.
    // Only for alarms of this account and region, so no other account's alarm can use the key.
    const topicKey = customerManagedKey(this, 'AlarmTopicKey', 'Encrypts the liveness-batch alarm topic');
    const stack = Stack.of(this);
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'liveness-batch alarms',
      masterKey: topicKey,
      enforceSSL: true,
    });
    if (settings.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    }

    const worker = (metricName: string, statistic: string, extra: Record<string, string> = {}) =>
      pipelineMetric(metricName, statistic, { service: serviceNames.worker, ...extra });

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.alarm(`${name}NotEmpty`, {
        alarmDescription: `${name} holds messages: inspect them, fix the cause, then redrive`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 0,
      });
    }
    this.alarm('WorkQueueOldestMessage', {
      alarmDescription: 'Selfies wait too long on the work queue: workers stuck, throttled or too few',
      metric: props.workQueue.metricApproximateAgeOfOldestMessage({
        period: FIVE_MINUTES,
        statistic: 'Maximum',
      }),
      threshold: settings.oldestMessageAgeAlarmSeconds,
    });
    this.alarm('ReviewQueueOldestMessage', {
      alarmDescription: 'An outcome has waited for human review too long: nobody is working the review queue',
      metric: props.reviewQueue.metricApproximateAgeOfOldestMessage({
        period: FIVE_MINUTES,
        statistic: 'Maximum',
      }),
      threshold: settings.reviewQueueAgeAlarmSeconds,
    });
    this.alarm('FailedDecisions', {
      alarmDescription:
        'Selfies ended FAILED: read their reasons (audit --decision FAILED), fix the cause, then redrive --failed',
      metric: worker(metricNames.decisions, 'Sum', { decision: 'FAILED' satisfies Decision }),
      threshold: 0,
    });
    this.alarm('VendorCircuitOpen', {
      alarmDescription:
        'The vendor answers every call with a systemic error (blocked, moved, down): calls are paused, selfies wait',
      metric: worker(metricNames.vendorCircuitOpen, 'Sum').with({ period: Duration.minutes(1) }),
      threshold: 0,
    });
    this.alarm('SelfiesHeld', {
      alarmDescription:
        'The daily paid-call cap (maxPaidCallsPerDay) is reached: selfies wait as HELD until it is raised or the day turns',
      metric: worker(metricNames.selfiesHeld, 'Sum'),
      threshold: 0,
    });
    this.alarm('WorkerErrors', {
      alarmDescription: 'The worker crashed or timed out (per-record failures are reported, not thrown)',
      metric: functions.worker.metricErrors({ period: FIVE_MINUTES }),
      threshold: 0,
    });
    this.alarm('WorkerThrottles', {
      alarmDescription: 'The worker was throttled: account concurrency is lower than workerMaxConcurrency',
      metric: functions.worker.metricThrottles({ period: FIVE_MINUTES }),
      threshold: 0,
    });
    this.alarm('PublishErrors', {
      alarmDescription: 'Publishing outcome events failed; the stream retries, then uses the failure queue',
      metric: functions.publish.metricErrors({ period: FIVE_MINUTES }),
      threshold: 0,
    });
    this.alarm('EnqueueErrors', {
      alarmDescription: 'Uploads could not be enqueued; S3 retries the notification, then drops it',
      metric: functions.enqueue.metricErrors({ period: FIVE_MINUTES }),
      threshold: 0,
    });
    this.alarm('VendorUnauthorized', {
      alarmDescription: 'The liveness API answered 401: the credentials secret is wrong or expired',
      metric: worker(metricNames.vendorUnauthorized, 'Sum', {}).with({ period: Duration.minutes(1) }),
      threshold: 0,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: Stack.of(this).stackName,
      defaultInterval: Duration.hours(3),
    });
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });
    this.dashboard.addWidgets(
      graph('Selfies enqueued', [
        pipelineMetric(metricNames.selfiesEnqueued, 'Sum', { service: serviceNames.enqueue }),
      ]),
      graph(
        'Decisions',
        DECISIONS.map((decision) =>
          worker(metricNames.decisions, 'Sum', { decision }).with({ label: decision }),
        ),
      ),
      graph(
        'Vendor latency (ms)',
        ['p50', 'p90', 'p99'].map((p) => worker(metricNames.vendorLatency, p).with({ label: p })),
      ),
    );
    this.dashboard.addWidgets(
      graph('Vendor calls', [
        worker(metricNames.paidCalls, 'Sum').with({ label: 'paid calls' }),
        worker(metricNames.vendorRetries, 'Sum').with({ label: 'retries' }),
        worker(metricNames.vendorUnauthorized, 'Sum').with({ label: '401' }),
        worker(metricNames.duplicatesReused, 'Sum').with({ label: 'duplicates reused' }),
        worker(metricNames.vendorCircuitOpen, 'Sum').with({ label: 'circuit opened' }),
        worker(metricNames.selfiesHeld, 'Sum').with({ label: 'held by the cap' }),
      ]),
      graph('Preflight rejections by reason', [
        new cloudwatch.MathExpression({
          expression: `SEARCH('{${METRIC_NAMESPACE},reason,service} MetricName="${metricNames.preflightRejections}"', 'Sum', 300)`,
          label: '',
          period: FIVE_MINUTES,
        }),
      ]),
      graph('Work queue', [
        props.workQueue.metricApproximateNumberOfMessagesVisible({ label: 'waiting' }),
        props.workQueue.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Oldest message on the work queue (s)', [
        props.workQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum' }),
      ]),
      graph(
        'Dead-letter queues',
        Object.entries(props.deadLetterQueues).map(([name, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ label: name, statistic: 'Maximum' }),
        ),
      ),
      graph(
        'Function errors and throttles',
        Object.entries(functions).flatMap(([name, fn]) => [
          fn.metricErrors({ label: `${name} errors` }),
          fn.metricThrottles({ label: `${name} throttles` }),
        ]),
      ),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }),
    );
  }

  private alarm(
    id: string,
    props: { alarmDescription: string; metric: cloudwatch.IMetric; threshold: number },
  ) {
    const alarm = new cloudwatch.Alarm(this, id, {
      ...props,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // No data means nothing happened (no errors, no 401s, an empty queue).
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
    this.alarms.push(alarm);
    return alarm;
  }
}

function pipelineMetric(metricName: string, statistic: string, dimensionsMap: Record<string, string>) {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    statistic,
    dimensionsMap,
    period: FIVE_MINUTES,
  });
}
