/** A small bar chart of the report's outcomes per month, in plain SVG (no chart library). */
import { OUTCOMES, type MonthReport, type Outcome } from '../../../audit/report.js';

export const OUTCOME_LABELS: Record<Outcome, string> = {
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Expired',
  noFootage: 'No footage',
  refusedByPolicy: 'Refused by policy',
  refusedAsInvalid: 'Refused as invalid',
};

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** One group per month, one bar per outcome (height by count), each with its exact figure as a tooltip. */
export function outcomeChart(months: MonthReport[]): SVGElement {
  const barWidth = 8;
  const groupWidth = OUTCOMES.length * (barWidth + 2) + 14;
  const height = 120;
  const top = Math.max(1, ...months.flatMap((m) => OUTCOMES.map((o) => m.outcomes[o].count)));
  const chart = svg('svg', {
    class: 'report-chart',
    viewBox: `0 0 ${Math.max(groupWidth * months.length, 120)} ${height + 18}`,
    role: 'img',
    'aria-label': 'Outcomes per month',
    preserveAspectRatio: 'xMinYMax meet',
  });
  months.forEach((m, i) => {
    const x0 = i * groupWidth;
    OUTCOMES.forEach((o, j) => {
      const count = m.outcomes[o].count;
      const h = Math.round((count / top) * height);
      const bar = svg('rect', { x: x0 + j * (barWidth + 2), y: height - h, width: barWidth, height: Math.max(h, count ? 1 : 0), class: `bar bar--${o}`, 'data-count': count });
      bar.appendChild(svg('title', {}, `${m.month} · ${OUTCOME_LABELS[o]}: ${count}`));
      chart.appendChild(bar);
    });
    chart.appendChild(svg('text', { x: x0, y: height + 14, class: 'report-chart__month' }, m.month));
  });
  return chart;
}
