import { type ReactNode, useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  values: Array<number | null>;
}

/**
 * A time chart (uPlot: ~20 KB, canvas, fast with thousands of points). `times` in seconds since
 * the epoch. The numbers are also given as a text summary for screen readers.
 */
export function Chart(props: {
  title: string;
  times: number[];
  series: ChartSeries[];
  unit?: string;
}): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.series.map((s) => s.label).join('|');
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 200,
      series: [
        {},
        ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true })),
      ],
      // at least the last minute on the time axis (one point alone would be spread over years)
      scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - 60), max] } },
      axes: [{}, { size: 60 }],
      legend: { show: true },
    };
    const p = new uPlot(opts, [[], ...props.series.map(() => [])] as uPlot.AlignedData, el);
    plot.current = p;
    const ro = new ResizeObserver(() => p.setSize({ width: Math.max(280, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = null;
    };
    // the plot is made again only when its series change, not on every point
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape]);
  useEffect(() => {
    plot.current?.setData([props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
  }, [props.times, props.series]);
  const last = props.series.map((s) => `${s.label} ${s.values.at(-1) ?? '—'}${props.unit ?? ''}`).join(', ');
  return (
    <figure className="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title}: latest ${last}`} />
    </figure>
  );
}
