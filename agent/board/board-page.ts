/**
 * The board's public pages: plain HTML with one same-origin stylesheet, no script, no external
 * asset, everything escaped. Readable on a phone and on a desktop.
 */
import type { FeedItem, Profile } from './board-feed.js';

export const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const KIND: Record<string, string> = { police: 'Police', fire: 'Fire', neighbor: 'Neighbour', insurer: 'Insurer', owner: 'Owner', other: 'Other' };

function when(isoTime: string): string {
  return `${isoTime.slice(0, 10)} ${isoTime.slice(11, 16)} UTC`;
}

function span(from: string, to: string): string {
  return from.slice(0, 10) === to.slice(0, 10) ? `${when(from)} – ${to.slice(11, 16)} UTC` : `${when(from)} – ${when(to)}`;
}

function where(item: FeedItem): string {
  if (item.area) {
    const { lat, lon, radiusM } = item.area;
    return `within ${Math.round(radiusM)} m of ${lat.toFixed(5)}, ${lon.toFixed(5)}`;
  }
  return item.device ? `one doorbell: ${item.device}` : '';
}

function card(item: FeedItem): string {
  const vouch = item.vouch
    ? `<span class="vouch">vouched for as “${esc(item.vouch.label)}” by directory key ${esc(item.vouch.directoryKeyId)}</span>`
    : '<span class="unvouched">no directory vouches for this key</span>';
  return `<article class="request${item.withdrawn ? ' withdrawn' : ''}" id="entry-${item.index}">
  <header><span class="kind kind-${esc(item.requester.kind)}">${esc(KIND[item.requester.kind] ?? item.requester.kind)}</span>
  <a class="who" href="/requesters/${esc(item.keyId)}">${esc(item.requester.name)}</a>${item.requester.caseNumber ? ` <span class="case">case ${esc(item.requester.caseNumber)}</span>` : ''}
  ${item.withdrawn ? `<strong class="mark">Withdrawn ${esc(when(item.withdrawn.at))}</strong>` : ''}</header>
  <p class="reason">${esc(item.reason)}</p>
  <dl>
    <dt>Footage from</dt><dd>${esc(span(item.window.from, item.window.to))}</dd>
    <dt>Where</dt><dd>${esc(where(item))}</dd>
    <dt>Sent to</dt><dd>${esc(item.destinationHost)}</dd>
    <dt>Key</dt><dd><code>${esc(item.fingerprint)}</code> ${vouch}</dd>
    <dt>Posted</dt><dd>${esc(when(item.postedAt))}, log entry <a href="/proof/${item.index}">#${item.index}</a>; expires ${esc(when(item.expiresAt))}</dd>
  </dl>
</article>`;
}

function page(title: string, body: string, footer: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><link rel="stylesheet" href="/board.css"></head>
<body><main><h1>${esc(title)}</h1>
<p class="lede">Every request for doorbell footage sent through this board is public and stays here: nothing is ever deleted, a withdrawn request stays visible, marked withdrawn. Doorbells decide privately; this board never learns which doorbell heard or shared anything.</p>
${body}</main><footer>${footer}</footer></body></html>`;
}

export interface LogSummary {
  size: number;
  vkey: string;
}

function logFooter(log: LogSummary): string {
  return `<p>Append-only log of ${log.size} entries. <a href="/checkpoint">Signed checkpoint</a> · <a href="/feed.json">feed.json</a> · proofs at <code>/proof/{index}</code> and <code>/consistency/{old}/{new}</code>.</p>
<p>Board key <code>${esc(log.vkey)}</code></p>`;
}

export function homePage(items: FeedItem[], log: LogSummary): string {
  const body = items.length ? items.map(card).join('\n') : '<p class="empty">No request has been posted yet.</p>';
  return page('Public requests for doorbell footage', `<h2>Newest requests</h2>\n${body}`, logFooter(log));
}

export function profilePage(p: Profile, log: LogSummary): string {
  const c = p.counts;
  const head = `<section class="profile"><h2>${esc(p.names.join(' / ') || 'Unknown requester')}</h2>
<p>Key <code>${esc(p.fingerprint)}</code> (<a href="/requesters/${esc(p.keyId)}.json">JSON</a>)</p>
<ul class="counts"><li><b>${c.posted}</b> posted</li><li><b>${c.open}</b> open</li><li><b>${c.expired}</b> expired</li><li><b>${c.withdrawn}</b> withdrawn</li></ul>
<p class="note">Outcomes (shared or not) are reported by nobody: doorbells never tell the board.</p></section>`;
  const posts = p.posts.length ? p.posts.map(card).join('\n') : '<p class="empty">This key has posted nothing.</p>';
  return page('Requester profile', `${head}\n<h2>Full history</h2>\n${posts}`, logFooter(log));
}

export const STYLESHEET = `:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--card:#f6f8fa;--line:#d0d7de;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;--line:#30363d;--accent:#58a6ff}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main,footer{max-width:52rem;margin:0 auto;padding:1rem}h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.lede,.note,footer{color:var(--muted);font-size:.9rem}a{color:var(--accent)}code{font-size:.85em;word-break:break-all}
.request{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem 1rem;margin:.8rem 0}
.request header{display:flex;flex-wrap:wrap;gap:.4rem .6rem;align-items:baseline}.who{font-weight:600;font-size:1.05rem}
.kind{font-size:.75rem;font-weight:700;text-transform:uppercase;letter-spacing:.04em;padding:.1rem .45rem;border-radius:1rem;background:var(--line)}
.kind-police{background:#1f4fbf;color:#fff}.kind-fire{background:#b42318;color:#fff}.case{color:var(--muted)}
.reason{margin:.4rem 0 .6rem;font-size:1.05rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:0;font-size:.9rem}
dt{color:var(--muted)}dd{margin:0;min-width:0}.vouch{color:#1a7f37}.unvouched{color:var(--muted)}
.withdrawn{opacity:.75;border-style:dashed}.mark{color:#b42318;margin-left:auto}
.counts{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}.counts b{font-size:1.3rem}
@media (max-width:30rem){dl{grid-template-columns:1fr}dt{margin-top:.3rem}}`;
