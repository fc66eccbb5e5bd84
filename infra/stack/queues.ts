import { Duration, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { pipelineSettings } from '../../shared/settings.ts';
import type { ResolvedSettings } from './props.ts';

/** Every queue in the stack: SSE-SQS (EventBridge can deliver to it without a key policy) and TLS only. */
export function secureQueue(scope: Construct, id: string, props: sqs.QueueProps = {}): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(pipelineSettings.deadLetterQueue.retentionDays),
    ...props,
  });
}

/**
 * cdk-nag SQS3 recognises a DLQ only through another queue's redrive policy; on-failure destinations
 * and EventBridge target DLQs are dead-letter queues too, and are alarmed like the others.
 */
export function acknowledgeFailureDestination(queue: sqs.Queue, usedAs: string): void {
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself a dead-letter queue (${usedAs}); its depth is alarmed and it is redriven by hand.`,
  });
}

/** A consumer queue with its own DLQ, which also takes EventBridge's failed deliveries to it. */
export interface QueueWithDlq {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
}

export class Queues extends Construct {
  /** Work queue between enqueue and worker; its DLQ holds selfies that failed maxReceiveCount times. */
  readonly work: QueueWithDlq;
  /** Stream batches the publish function could not handle after its retries. */
  readonly publishFailures: sqs.Queue;
  /** S3 notifications the enqueue function failed on after Lambda's async retries. */
  readonly enqueueFailures: sqs.Queue;
  readonly review: QueueWithDlq;
  readonly ops: QueueWithDlq;

  constructor(scope: Construct, id: string, settings: ResolvedSettings) {
    super(scope, id);
    const workDlq = secureQueue(this, 'WorkDlq');
    this.work = {
      dlq: workDlq,
      queue: secureQueue(this, 'WorkQueue', {
        visibilityTimeout: Duration.seconds(settings.workQueueVisibilityTimeoutSeconds),
        retentionPeriod: Duration.days(pipelineSettings.workQueue.retentionDays),
        deadLetterQueue: { queue: workDlq, maxReceiveCount: settings.maxReceiveCount },
      }),
    };
    this.publishFailures = secureQueue(this, 'PublishFailureQueue');
    this.enqueueFailures = secureQueue(this, 'EnqueueFailureQueue');
    for (const failureQueue of [this.publishFailures, this.enqueueFailures]) {
      acknowledgeFailureDestination(failureQueue, 'a Lambda on-failure destination');
    }
    this.review = this.consumerQueue('Review', settings.maxReceiveCount);
    this.ops = this.consumerQueue('Ops', settings.maxReceiveCount);
  }

  private consumerQueue(name: string, maxReceiveCount: number): QueueWithDlq {
    const dlq = secureQueue(this, `${name}Dlq`);
    const queue = secureQueue(this, `${name}Queue`, { deadLetterQueue: { queue: dlq, maxReceiveCount } });
    return { queue, dlq };
  }

  /** Queues whose depth above zero means something needs an operator. */
  get deadLetterQueues(): Record<string, sqs.Queue> {
    return {
      WorkDlq: this.work.dlq,
      PublishFailureQueue: this.publishFailures,
      EnqueueFailureQueue: this.enqueueFailures,
      ReviewDlq: this.review.dlq,
      OpsDlq: this.ops.dlq,
    };
  }
}
