// Prometheus metrics (/metrics). One registry per app, so tests and replicas never share counters.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'dc_http_requests_total',
      help: 'HTTP requests by method, route and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'dc_http_request_duration_seconds',
      help: 'HTTP request latency by route.',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: [registry],
    }),
    agentSetups: new Counter({
      name: 'dc_agent_setups_total',
      help: 'Agent setup attempts by outcome.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    heartbeats: new Counter({ name: 'dc_agent_heartbeats_total', help: 'Agent heartbeats accepted.', registers: [registry] }),
    jobRuns: new Counter({
      name: 'dc_job_rows_changed_total',
      help: 'Rows changed by background jobs.',
      labelNames: ['job'] as const,
      registers: [registry],
    }),
    provisioning: new Counter({
      name: 'dc_provisioning_events_total',
      help: 'Lease and provisioning events by kind.',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
