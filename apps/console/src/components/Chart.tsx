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
      scales: { x: { time: true } },
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
    const p = plot.current;
    if (!p) return;
    p.setData([props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData);
    // at least the last minute on the time axis (a point or two alone would be spread over years)
    const first = props.times[0];
    const last = props.times.at(-1);
    if (first !== undefined && last !== undefined)
      p.setScale('x', { min: Math.min(first, last - 60), max: last });
  }, [props.times, props.series]);
  const last = props.series.map((s) => `${s.label} ${s.values.at(-1) ?? '—'}${props.unit ?? ''}`).join(', ');
  return (
    <figure className="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title}: latest ${last}`} />
    </figure>
  );
}
