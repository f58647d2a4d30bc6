// Small shared pieces: status badges, copy buttons, error boxes, live relative times.
import { useState, type ReactNode } from 'react';
import type { AgentStatus } from '@dc/core';
import { errorMessage } from '../api/client.js';
import { absoluteTime, countdown, relativeTime, useClock } from '../lib/time.js';

export const AGENT_STATUS_TEXT: Record<AgentStatus, string> = { online: 'Online', offline: 'Offline', revoked: 'Revoked' };

/** Colour plus text, so status never depends on colour alone. */
export function StatusBadge({ status, kind = 'agent' }: { status: string; kind?: 'agent' | 'contract' | 'offering' | 'payment' }) {
  const text = kind === 'agent' ? (AGENT_STATUS_TEXT[status as AgentStatus] ?? status) : status.replace(/_/g, ' ');
  return (
    <span className={`badge badge-${kind} st-${status}`} data-status={status}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

export function RelativeTime({ iso }: { iso: string | null | undefined }) {
  const text = useClock((now) => relativeTime(iso, now));
  return (
    <time dateTime={iso ?? undefined} title={absoluteTime(iso)}>
      {text}
    </time>
  );
}

export function Countdown({ iso }: { iso: string | null | undefined }) {
  const text = useClock((now) => countdown(iso, now));
  return (
    <time dateTime={iso ?? undefined} title={absoluteTime(iso)} className={text === 'expired' ? 'muted' : undefined}>
      {text}
    </time>
  );
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // Older browsers or a denied permission: copy through a selected, off-screen textarea.
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.className = 'offscreen';
  document.body.appendChild(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('copy failed');
}

export function CopyButton({ text, label = 'Copy', name }: { text: string; label?: string; name?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="btn btn-small"
      data-copy={name}
      onClick={() => {
        copyText(text).then(
          () => setState('copied'),
          () => setState('failed'),
        );
        setTimeout(() => setState('idle'), 2000);
      }}
    >
      {state === 'copied' ? 'Copied ✓' : state === 'failed' ? 'Copy failed: select and copy' : label}
    </button>
  );
}

export function ErrorBox({ error, children }: { error: unknown; children?: ReactNode }) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert">
      {errorMessage(error)}
      {children}
    </div>
  );
}
