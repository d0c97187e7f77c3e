/** The doorbell's transparency report: requests, outcomes and what was shared, per month, each figure citing its log entries. */
import { OUTCOMES, type Figure } from '../../../audit/report.js';
import type { App } from '../app.js';
import { formatBytes } from '../format.js';
import type { Change } from '../model.js';
import { h, replaceChildren } from './dom.js';
import { OUTCOME_LABELS, outcomeChart } from './report-chart.js';
import type { View } from './view.js';

export class ReportScreen implements View {
  readonly element = h('section', { class: 'screen', 'aria-label': 'Transparency report' });
  readonly title = 'Transparency report';
  readonly back = { href: '#/doorbell', label: 'Back to the doorbell' };

  constructor(private readonly app: App) {
    this.draw();
    app.requestReport().catch((err: Error) => console.warn('could not ask for the report', err.message));
  }

  update(change: Change): void {
    if (change === 'doorbell') this.draw();
  }

  private draw(): void {
    const report = this.app.model.doorbell.report;
    if (!report) {
      replaceChildren(this.element, h('p', { class: 'muted' }, 'Asking the doorbell for its report…'));
      return;
    }
    const cite = (f: Figure) => (f.entries.length ? `entries ${f.entries.map((s) => `#${s}`).join(', ')}` : '');
    const row = (label: string, f: Figure, value = String(f.count)) =>
      h('tr', {}, h('th', { scope: 'row' }, label), h('td', { 'data-figure': label }, value), h('td', { class: 'muted' }, cite(f)));
    replaceChildren(
      this.element,
      h('p', { class: 'help' }, `Computed by the doorbell from its audit log (${report.log.size} entries, root ${report.log.rootHash.slice(0, 16)}…). Each figure lists the log entries it counts.`),
      report.months.length === 0 ? h('p', { class: 'muted' }, 'No requests yet.') : h('div', { class: 'card' }, outcomeChart(report.months), legend()),
      ...report.months.map((m) =>
        h(
          'div',
          { class: 'card stack', 'data-month': m.month },
          h('h2', {}, m.month),
          h(
            'table',
            { class: 'report-table' },
            row('Requests received', m.received),
            ...Object.entries(m.byKind).map(([kind, f]) => row(`· ${kind}`, f)),
            ...Object.entries(m.byRequester).map(([name, f]) => row(`· from ${name}`, f)),
            ...OUTCOMES.map((o) => row(OUTCOME_LABELS[o], m.outcomes[o])),
            row('Clips shared', m.clipsShared),
            row('Bytes shared', m.bytesShared, formatBytes(m.bytesShared.count)),
          ),
        ),
      ),
    );
  }
}

function legend(): HTMLElement {
  return h('ul', { class: 'report-legend' }, OUTCOMES.map((o) => h('li', {}, h('span', { class: `swatch bar--${o}` }), OUTCOME_LABELS[o])));
}
