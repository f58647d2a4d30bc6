// The pool's provisioning statistics (GET …/pools/{id}/stats): headline figures, provisioned and
// failed per bucket, and time to provision (p50/p95/max), for the last hour, day or week. Buckets
// are the server's (epoch-aligned, UTC), drawn as they come: the page does no arithmetic of its
// own beyond units.
import { useMemo, useState } from 'react';
import uPlot from 'uplot';
import { STATS_WINDOWS, type PoolStats as Stats, type StatsWindow } from '@dc/core';
import { usePoolStats } from '../../queries.js';
import { ErrorBox } from '../bits.js';
import { UPlotChart } from './UPlotChart.js';
import { bucketWords, durationUnit, formatDuration, formatRate, rateClass } from './format.js';

const WINDOW_WORDS: Record<StatsWindow, string> = { '1h': 'last hour', '24h': 'last 24 h', '7d': 'last 7 days' };
const COLOURS = { provisioned: '#15803d', failed: '#b91c1c', time: '#1d4ed8' };
const AXIS_FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const LABEL_FONT = '600 11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
/** Whole-number ticks: counts of contracts have no halves. */
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 50_000, 100_000];
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const utc = (ts: number) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
const hhmm = uPlot.fmtDate('{HH}:{mm}');
const mmdd = uPlot.fmtDate('{YYYY}-{MM}-{DD}');
/** 24-hour UTC ticks, the date under the first tick of each day (Grafana's habit). */
function timeTicks(_u: uPlot, splits: number[]): string[] {
  let day = '';
  return splits.map((v) => {
    const d = utc(v);
    const date = mmdd(d);
    const label = date === day ? hhmm(d) : `${hhmm(d)}\n${date}`;
    day = date;
    return label;
  });
}
const axis = (o: uPlot.Axis): uPlot.Axis => ({ font: AXIS_FONT, labelFont: LABEL_FONT, stroke: '#475467', grid: { stroke: '#eef0f3', width: 1 }, ticks: { stroke: '#d0d5dd', width: 1 }, ...o });

export function PoolStats({ poolId }: { poolId: string }) {
  const [window, setWindow] = useState<StatsWindow>('24h');
  const stats = usePoolStats(poolId, window);
  const s = stats.data;
  const words = WINDOW_WORDS[s?.window ?? window];

  return (
    <div className="pool-stats" data-pool-stats>
      <div className="section-head">
        <h2>Provisioning</h2>
        <select name="stats-window" value={window} onChange={(e) => setWindow(e.target.value as StatsWindow)} aria-label="Statistics window">
          {STATS_WINDOWS.map((w) => (
            <option key={w} value={w}>
              {WINDOW_WORDS[w]}
            </option>
          ))}
        </select>
        {s && <span className="muted">{`buckets of ${bucketWords(s.bucket_seconds)}, times in UTC`}</span>}
        {stats.isFetching && !stats.isPending ? <span className="muted">· refreshing</span> : null}
      </div>
      {stats.isPending && <p className="muted">Loading statistics…</p>}
      <ErrorBox error={stats.error && !s ? stats.error : null}>
        <button type="button" className="btn btn-small" onClick={() => void stats.refetch()}>
          Retry
        </button>
      </ErrorBox>
      {s && (
        <>
          <Figures s={s} words={words} />
          <div className="chart-row">
            <figure className="chart-card">
              <figcaption>{`Provisioned and failed per ${bucketWords(s.bucket_seconds)}, ${words}`}</figcaption>
              <SeriesChart s={s} words={words} />
            </figure>
            <figure className="chart-card">
              <figcaption>{`Time to provision, ${words}`}</figcaption>
              <TimeChart s={s} words={words} />
            </figure>
          </div>
        </>
      )}
    </div>
  );
}

function Figures({ s, words }: { s: Stats; words: string }) {
  const t = s.time_to_provision_ms;
  return (
    <dl className="stat-tiles">
      <div data-stat="provisioned">
        <dt>Provisioned</dt>
        <dd>{s.provisioned}</dd>
      </div>
      <div data-stat="failed">
        <dt title="Failed attempts reported by agents, and leases that expired without a confirmation">Failed / expired</dt>
        <dd>
          <span className={s.failed_attempts ? 'bad' : undefined}>{s.failed_attempts}</span>
          {' / '}
          <span className={s.expired_leases ? 'bad' : undefined}>{s.expired_leases}</span>
        </dd>
      </div>
      <div data-stat="success-rate">
        <dt title="Provisioned ÷ (provisioned + failures on the agent's side + expired leases)">Success rate</dt>
        <dd className={rateClass(s.success_rate)}>{formatRate(s.success_rate)}</dd>
      </div>
      <div data-stat="time-to-provision">
        <dt title="From paid and accepted to provisioned">Time to provision p50 / p95 / max</dt>
        <dd>{`${formatDuration(t.p50)} / ${formatDuration(t.p95)} / ${formatDuration(t.max)}`}</dd>
      </div>
      <div data-stat="waiting">
        <dt title="Accepted, paid contracts of this pool that no agent has provisioned yet (now, not over the window)">Waiting now</dt>
        <dd>
          <span className={s.waiting ? 'warn' : undefined}>{s.waiting}</span>
          {s.oldest_waiting_seconds !== null && s.waiting > 0 ? <span className="muted">{` oldest ${formatDuration(s.oldest_waiting_seconds * 1000)}`}</span> : null}
        </dd>
      </div>
      <div data-stat="terminated">
        <dt>Terminated</dt>
        <dd>{s.terminated}</dd>
      </div>
      <span className="muted stat-note">{`over the ${words}`}</span>
    </dl>
  );
}

/** Provisioned (left half of each bucket) and failed (right half) per bucket, as bars. */
function SeriesChart({ s, words }: { s: Stats; words: string }) {
  const bucket = s.bucket_seconds;
  const from = Date.parse(s.from) / 1000;
  const to = Date.parse(s.to) / 1000;
  const perBucket = bucketWords(bucket);
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(
    () => ({
      tzDate: utc,
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      scales: { x: { time: true, range: [from, to] }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      axes: [axis({ label: 'time (UTC)', values: timeTicks }), axis({ label: `contracts per ${perBucket}`, incrs: COUNT_INCRS, size: 44 })],
      series: [
        { label: 'bucket (UTC)', value: (_u, v) => (v === null ? '—' : `${mmdd(utc(v - bucket / 2))} ${hhmm(utc(v - bucket / 2))}`) },
        {
          label: 'provisioned',
          stroke: COLOURS.provisioned,
          fill: 'rgba(21, 128, 61, 0.75)',
          width: 0,
          paths: uPlot.paths.bars!({ align: -1, size: [0.45, 40] }),
          points: { show: false },
          value: (_u, v) => (v === null ? '—' : plural(v, 'contract')),
        },
        {
          label: 'failed or expired',
          stroke: COLOURS.failed,
          fill: 'rgba(185, 28, 28, 0.75)',
          width: 0,
          paths: uPlot.paths.bars!({ align: 1, size: [0.45, 40] }),
          points: { show: false },
          value: (_u, v) => (v === null ? '—' : plural(v, 'attempt')),
        },
      ],
    }),
    [from, to, bucket, perBucket],
  );
  // Bars stand at each bucket's middle: provisioned to its left, failed to its right.
  const data = useMemo<uPlot.AlignedData>(
    () => [s.series.map((b) => Date.parse(b.t) / 1000 + bucket / 2), s.series.map((b) => b.provisioned), s.series.map((b) => b.failed)],
    [s.series, bucket],
  );
  const empty = s.series.every((b) => b.provisioned === 0 && b.failed === 0);
  return (
    <div className="chart-box">
      <UPlotChart name="series" options={options} data={data} label={`Provisioned and failed contracts per ${perBucket}, ${words}`} />
      {empty && (
        <p className="chart-empty" data-chart-empty="series">
          {`No provisioning attempts in the ${words}. Bars appear when agents confirm or fail contracts of this pool.`}
        </p>
      )}
    </div>
  );
}

const PERCENTILES = ['p50', 'p95', 'max'] as const;

/** p50, p95 and max time to provision as three bars, in the unit the largest reads best in. */
function TimeChart({ s, words }: { s: Stats; words: string }) {
  const t = s.time_to_provision_ms;
  const { unit, perMs } = durationUnit(t.max ?? 0);
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(
    () => ({
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.5, 2.5] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        axis({ label: 'percentile', splits: () => [0, 1, 2], values: (_u, splits) => splits.map((v) => PERCENTILES[v] ?? '') }),
        axis({ label: `time to provision (${unit})`, size: 44 }),
      ],
      series: [
        { label: 'percentile', value: (_u, v) => (v === null ? '—' : (PERCENTILES[v] ?? '')) },
        {
          label: 'time to provision',
          stroke: COLOURS.time,
          fill: 'rgba(29, 78, 216, 0.7)',
          width: 0,
          paths: uPlot.paths.bars!({ size: [0.5, 90] }),
          points: { show: false },
          value: (_u, v) => (v === null ? '—' : formatDuration(v * perMs)),
        },
      ],
    }),
    [unit, perMs],
  );
  const data = useMemo<uPlot.AlignedData>(() => [[0, 1, 2], [t.p50, t.p95, t.max].map((v) => (v === null ? null : v / perMs))], [t.p50, t.p95, t.max, perMs]);
  return (
    <div className="chart-box">
      <UPlotChart name="time-to-provision" options={options} data={data} label={`Time to provision p50, p95 and max, ${words}`} />
      {t.max === null && (
        <p className="chart-empty" data-chart-empty="time-to-provision">
          {`No contract of this pool was provisioned in the ${words}.`}
        </p>
      )}
    </div>
  );
}
