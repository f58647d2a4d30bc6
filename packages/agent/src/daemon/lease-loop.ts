// Keeps one contract's lease alive while it is being provisioned: renews (POST …/lock with our
// lock_token) every half TTL, retries sooner when a renewal fails, and fires `lost` when the API
// says the lease is gone (lease_lost, contract_cancelled) so the provision stops and is torn down.
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
  stop(): void;
  /** Resolves when the loop has ended (after stop() or a loss). */
  done: Promise<void>;
}

export function keepLease(
  opts: { api: ApiClient; log: Logger; fatal: (err: unknown) => boolean; maxBackoffMs: number },
  contractId: string,
  token: number,
  ttlSeconds: number,
): Lease {
  const lostCtrl = new AbortController();
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
        log.debug('lease.renewed', `lease renewed until ${r.lock_expires_at}`, { lock_expires_at: r.lock_expires_at });
      } catch (err) {
        if (stopCtrl.signal.aborted) return;
        const d = classify(err);
        if (d.kind === 'lease_gone' || (d.kind === 'fatal' && opts.fatal(err))) {
          code = d.kind === 'lease_gone' ? d.code : 'fatal';
          log.warn('lease.lost', `lease on contract ${contractId} is gone (${errorMessage(err)}); stopping its provisioning`, { code });
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
    stop: () => stopCtrl.abort(),
    done,
  };
}
