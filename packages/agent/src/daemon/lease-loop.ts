// Keeps one contract's lease alive while it is worked on: renews (POST …/lock with our lock_token)
// every half TTL, retries sooner when a renewal fails, and fires `lost` when the API says the lease
// is gone (lease_lost; contract_cancelled from an API without teardowns) so the work stops and what
// it created is removed. A provision lease whose contract ends (cancel, refund, terminate) becomes
// a teardown lease with the same token: the renewal then answers action "terminate" and `ended`
// fires, so the provision stops and the machine is torn down under the same lease.
import type { WorkAction } from '@dc/core';
import type { ApiClient } from '../api/client.js';
import { classify, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { AbortedError, Backoff, pause } from '../util.js';

export interface Lease {
  readonly contractId: string;
  readonly token: number;
  /** Fires when the lease is gone; its reason says why. */
  readonly lost: AbortSignal;
  /** The API's code for the loss (lease_lost, contract_cancelled), or null. */
  lostCode(): string | null;
  /** Fires when a provision lease has become this contract's teardown lease. */
  readonly ended: AbortSignal;
  /** Marks the lease as a teardown lease (the API said so another way: 409 contract_cancelled). */
  end(): void;
  stop(): void;
  /** Resolves when the loop has ended (after stop() or a loss). */
  done: Promise<void>;
}

export function keepLease(
  opts: { api: ApiClient; log: Logger; fatal: (err: unknown) => boolean; maxBackoffMs: number },
  contractId: string,
  token: number,
  ttlSeconds: number,
  action: WorkAction,
): Lease {
  const lostCtrl = new AbortController();
  const endedCtrl = new AbortController();
  if (action === 'terminate') endedCtrl.abort();
  const end = () => {
    if (!endedCtrl.signal.aborted) endedCtrl.abort(new AbortedError('the contract ended; tearing down'));
  };
  const stopCtrl = new AbortController();
  let code: string | null = null;
  const log = opts.log.child({ contract_id: contractId, lock_token: token });

  const loop = async () => {
    let ttlMs = ttlSeconds * 1000;
    let nextMs = ttlMs / 2;
    const backoff = new Backoff(Math.max(100, ttlMs / 20), Math.min(opts.maxBackoffMs, ttlMs / 4));
    while (await pause(nextMs, stopCtrl.signal)) {
      try {
        const r = await opts.api.contracts.lock(contractId, token, stopCtrl.signal);
        ttlMs = (r.lock_ttl_seconds ?? ttlMs / 1000) * 1000;
        nextMs = ttlMs / 2;
        backoff.reset();
        log.debug('lease.renewed', `lease renewed until ${r.lock_expires_at}`, { lock_expires_at: r.lock_expires_at, action: r.action });
        if (r.action === 'terminate' && !endedCtrl.signal.aborted) {
          log.warn('lease.ended', `contract ${contractId} ended while it was being provisioned; the lease is now its teardown`);
          end();
        }
      } catch (err) {
        if (stopCtrl.signal.aborted) return;
        const d = classify(err);
        if (d.kind === 'lease_gone' || (d.kind === 'fatal' && opts.fatal(err))) {
          code = d.kind === 'lease_gone' ? d.code : 'fatal';
          log.warn('lease.lost', `lease on contract ${contractId} is gone (${errorMessage(err)}); stopping its ${endedCtrl.signal.aborted ? 'teardown' : 'provisioning'}`, { code });
          lostCtrl.abort(new AbortedError(`lease lost (${code})`));
          return;
        }
        nextMs = backoff.next();
        log.warn('lease.renew_failed', `renewing the lease failed (${errorMessage(err)}); retrying in ${nextMs} ms`);
      }
    }
  };
  const done = loop();
  return {
    contractId,
    token,
    lost: lostCtrl.signal,
    lostCode: () => code,
    ended: endedCtrl.signal,
    end,
    stop: () => stopCtrl.abort(),
    done,
  };
}
