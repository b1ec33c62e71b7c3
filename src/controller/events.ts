// Kubernetes Events on a QwenService (core/v1, so `kubectl describe qws` shows them).
import type { KubeClient } from '../kube/client.ts';
import { namespaceOf } from '../kube/object.ts';
import { API_VERSION, KIND } from '../api/qwenservice.ts';
import { OPERATOR_NAME } from '../conventions.ts';

export type EventTarget = { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string } };

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  constructor(client: KubeClient, component = OPERATOR_NAME) {
    this.client = client;
    this.component = component;
  }

  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const namespace = namespaceOf(target);
    await this.client.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${target.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 1e4).toString(16)}`, namespace },
      involvedObject: { apiVersion: API_VERSION, kind: KIND, name: target.metadata.name, namespace, uid: target.metadata.uid, resourceVersion: target.metadata.resourceVersion },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
}
