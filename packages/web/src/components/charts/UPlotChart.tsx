// One uPlot canvas in a React tree: created when its options change, fed new data in place on
// every poll (no re-creation, no flicker), sized to its container, destroyed on unmount.
// uPlot sets sizes through CSSOM (`el.style.x = …`), which the CSP's default-src 'self' allows;
// its stylesheet is bundled into ours, never injected.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartProps {
  /** Names the chart for tests (`data-chart` attribute). */
  name: string;
  /** Everything but the size; memoise it, a new object re-creates the chart. */
  options: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height?: number;
  /** Said to screen readers instead of the canvas. */
  label: string;
}

export function UPlotChart({ name, options, data, height = 220, label }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot({ ...options, width: Math.max(200, el.clientWidth), height }, latest.current, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [options, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div ref={box} className="chart" data-chart={name} role="img" aria-label={label} />;
}
