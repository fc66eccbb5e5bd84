import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type { Construct } from 'constructs';
import { DECISIONS } from '../../shared/decision.ts';
import { keys } from '../../shared/results/records.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { tunablesToEnv } from '../../shared/tunables.ts';
import { OutcomeEvents } from './events.ts';
import { type HandlerEnvironment, PipelineFunction, serviceNames } from './functions.ts';
import { acknowledgeGuardFindings } from './guard.ts';
import { logEncryptionKey } from './keys.ts';
import { Monitoring } from './monitoring.ts';
import { acknowledgeFunctionFindings, acknowledgeNotificationHandlerFindings } from './nag.ts';
import { grantReadUploads, grantTableActions, tableActions } from './permissions.ts';
import {
  type LivenessBatchStackProps,
  type ResolvedSettings,
  resolveSettings,
  workerTunables,
} from './props.ts';
import { Queues } from './queues.ts';
import { Storage } from './storage.ts';

/** S3 upload -> enqueue -> SQS -> worker -> DynamoDB -> stream -> publish -> EventBridge. */
export class LivenessBatchStack extends Stack {
  readonly settings: ResolvedSettings;
  readonly storage: Storage;
  readonly queues: Queues;
  readonly outcomeEvents: OutcomeEvents;
  readonly enqueueFunction: lambda.Function;
  readonly workerFunction: lambda.Function;
  readonly publishFunction: lambda.Function;
  readonly monitoring: Monitoring;
  /** Encrypts the three functions' log groups (the worker's logs are part of the audit trail). */
  readonly logKey: kms.Key;

  constructor(scope: Construct, id: string, props: LivenessBatchStackProps = {}) {
    super(scope, id, props);
    // Access logs delivered under a bucket policy, not the legacy LogDeliveryWrite ACL (new-project
    // default; set here so the stack is the same whatever the app's cdk.json says).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const settings = resolveSettings(props);
    this.settings = settings;
    this.storage = new Storage(this, 'Storage', settings);
    this.queues = new Queues(this, 'Queues', settings);
    this.outcomeEvents = new OutcomeEvents(this, 'Events', {
      settings,
      targets: { reviewQueue: this.queues.review, opsQueue: this.queues.ops },
    });
    const { selfieBucket, selfieKey, resultsTable, vendorSecret } = this.storage;
    const workQueue = this.queues.work.queue;
    this.logKey = logEncryptionKey(this, 'LogKey');

    const common: HandlerEnvironment = {
      RESULTS_TABLE_NAME: resultsTable.tableName,
      UPLOAD_PREFIX: settings.uploadPrefix,
    };
    const logRetention = settings.logRetentionDays as logs.RetentionDays;

    const enqueue = new PipelineFunction(this, 'EnqueueSelfies', {
      entry: 'functions/enqueue.ts',
      serviceName: serviceNames.enqueue,
      description: 'Turns S3 uploads into work-queue messages and RECEIVED records',
      timeout: Duration.seconds(pipelineSettings.enqueue.timeoutSeconds),
      memorySize: pipelineSettings.enqueue.memoryMb,
      logRetention,
      logEncryptionKey: this.logKey,
      environment: { ...common, WORK_QUEUE_URL: workQueue.queueUrl },
    });
    this.enqueueFunction = enqueue.fn;
    grantTableActions(enqueue.fn, resultsTable, tableActions.enqueue);
    workQueue.grantSendMessages(enqueue.fn);
    // S3 invokes asynchronously: after Lambda's own retries, a lost upload lands here, not nowhere.
    enqueue.fn.configureAsyncInvoke({
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(this.queues.enqueueFailures),
    });
    selfieBucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(enqueue.fn), {
      prefix: settings.uploadPrefix,
    });

    const worker = new PipelineFunction(this, 'VerifySelfies', {
      entry: 'functions/worker.ts',
      serviceName: serviceNames.worker,
      description: 'Preflights each selfie and asks the liveness API, writing the outcome',
      timeout: Duration.seconds(settings.workerTimeoutSeconds),
      memorySize: settings.workerMemoryMb,
      logRetention,
      logEncryptionKey: this.logKey,
      nativeModules: ['sharp'],
      environment: {
        ...common,
        ...workerEnvironment(settings),
        // The worker extends a failed message's visibility so later deliveries back off.
        WORK_QUEUE_URL: workQueue.queueUrl,
        VENDOR_SECRET_ARN: vendorSecret.secretArn,
      },
    });
    this.workerFunction = worker.fn;
    // Exactly these grants; the event source adds queue consumption (incl. ChangeMessageVisibility).
    grantReadUploads(worker.fn, selfieBucket, selfieKey, settings.uploadPrefix);
    grantTableActions(worker.fn, resultsTable, tableActions.worker);
    // A waiting selfie (twin, paused vendor, spend cap) is re-queued as a new message.
    workQueue.grantSendMessages(worker.fn);
    vendorSecret.grantRead(worker.fn);
    worker.fn.addEventSource(
      new SqsEventSource(workQueue, {
        batchSize: settings.workerBatchSize,
        maxBatchingWindow:
          settings.workerBatchingWindowSeconds > 0
            ? Duration.seconds(settings.workerBatchingWindowSeconds)
            : undefined,
        maxConcurrency: settings.workerMaxConcurrency,
        reportBatchItemFailures: true,
      }),
    );

    const publish = new PipelineFunction(this, 'PublishOutcomes', {
      entry: 'functions/publish.ts',
      serviceName: serviceNames.publish,
      description: 'Publishes each outcome from the results stream to the event bus',
      timeout: Duration.seconds(pipelineSettings.publish.timeoutSeconds),
      memorySize: pipelineSettings.publish.memoryMb,
      logRetention,
      logEncryptionKey: this.logKey,
      // Publish reads only the stream records it is given; it needs no table or queue names.
      environment: { EVENT_BUS_NAME: this.outcomeEvents.bus.eventBusName },
    });
    this.publishFunction = publish.fn;
    this.outcomeEvents.bus.grantPutEventsTo(publish.fn);
    publish.fn.addEventSource(
      new DynamoEventSource(resultsTable, {
        // From the stream's start, so outcomes written before the mapping was ready are not lost.
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: pipelineSettings.publish.batchSize,
        bisectBatchOnError: true,
        retryAttempts: pipelineSettings.publish.maxRetryAttempts,
        reportBatchItemFailures: true,
        onFailure: new SqsDlq(this.queues.publishFailures),
        // Only writes that leave a result item decided are outcomes (what publish-outcomes.ts keeps);
        // every other table change (attempts, leases, claims, summaries) never invokes the function.
        filters: [decidedResultItems],
      }),
    );

    this.monitoring = new Monitoring(this, 'Monitoring', {
      settings,
      serviceNames,
      functions: { enqueue: enqueue.fn, worker: worker.fn, publish: publish.fn },
      workQueue,
      reviewQueue: this.queues.review.queue,
      deadLetterQueues: {
        ...this.queues.deadLetterQueues,
        ...(this.outcomeEvents.webhookDlq && { WebhookDlq: this.outcomeEvents.webhookDlq }),
      },
    });

    acknowledgeFunctionFindings({ enqueue, worker, publish }, this.storage);
    acknowledgeNotificationHandlerFindings(this);
    acknowledgeGuardFindings(this);
    this.addOutputs();
  }

  private addOutputs(): void {
    const { selfieBucket, resultsTable, vendorSecret } = this.storage;
    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('SelfieBucketName', selfieBucket.bucketName, 'Upload selfies here, under UploadPrefix/<batch-id>/');
    out(
      'SelfieKeyArn',
      this.storage.selfieKey.keyArn,
      'KMS key of the selfie bucket: uploaders need kms:GenerateDataKey on it, readers kms:Decrypt',
    );
    out('UploadPrefix', this.settings.uploadPrefix, 'Key prefix that triggers verification');
    out(
      'ResultsTableName',
      resultsTable.tableName,
      'Results and attempt history (GSIs byBatch, byDecisionDate, byReference)',
    );
    out('EventBusName', this.outcomeEvents.bus.eventBusName, 'Outcome events are published here');
    out('WorkQueueUrl', this.queues.work.queue.queueUrl, 'Selfies waiting for the worker');
    out(
      'WorkDlqUrl',
      this.queues.work.dlq.queueUrl,
      'Selfies that failed maxReceiveCount times (redrive after a fix)',
    );
    out('ReviewQueueUrl', this.queues.review.queue.queueUrl, 'Outcomes that need human review');
    out('OpsQueueUrl', this.queues.ops.queue.queueUrl, 'Rejected or failed selfies for operations');
    out(
      'PublishFailureQueueUrl',
      this.queues.publishFailures.queueUrl,
      'Stream batches publish could not deliver',
    );
    out('AlarmTopicArn', this.monitoring.alarmTopic.topicArn, 'Subscribe here to receive alarms');
    out('DashboardName', this.monitoring.dashboard.dashboardName, 'CloudWatch dashboard');
    out(
      'DashboardUrl',
      `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.monitoring.dashboard.dashboardName}`,
      'CloudWatch dashboard',
    );
    out(
      'VendorSecretArn',
      vendorSecret.secretArn,
      'Set after deploy: aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string file://vendor-credentials.json (a file with {"userid": "...", "apiKey": "..."})',
    );
  }
}

/** Stream records whose new image is a result item in a decision state: the outcomes to publish. */
const decidedResultItems = lambda.FilterCriteria.filter({
  dynamodb: {
    NewImage: {
      sk: { S: lambda.FilterRule.isEqual(keys.result) },
      state: { S: lambda.FilterRule.or(...DECISIONS) },
    },
  },
});

/** The worker's tunables as their Lambda environment variables (shared/tunables.ts); unset ones stay unset. */
function workerEnvironment(s: ResolvedSettings): HandlerEnvironment {
  return tunablesToEnv(workerTunables(s));
}
