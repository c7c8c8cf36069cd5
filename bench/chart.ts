/**
 * A hand-written SVG bar chart: for every measured scenario, its throughput
 * next to the throughput of its baseline, on one linear scale.
 */

export type Bar = { label: string; value: number; baseline: number; baselineLabel: string };

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export function renderChart(bars: readonly Bar[], title: string): string {
  const rowH = 34;
  const left = 210;
  const width = 900;
  const plotW = width - left - 120;
  const top = 50;
  const height = top + bars.length * rowH + 40;
  const max = Math.max(1, ...bars.flatMap((b) => [b.value, b.baseline]));
  const x = (v: number) => (v / max) * plotW;
  const rows = bars.map((bar, i) => {
    const y = top + i * rowH;
    return [
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${left}" y="${y + 2}" width="${x(bar.value).toFixed(1)}" height="12" fill="#2b7bb9"/>`,
      `<text x="${left + x(bar.value) + 4}" y="${y + 12}">${Math.round(bar.value)} req/s</text>`,
      `<rect x="${left}" y="${y + 16}" width="${x(bar.baseline).toFixed(1)}" height="8" fill="#b0b0b0"/>`,
      `<text x="${left + x(bar.baseline) + 4}" y="${y + 25}" fill="#666">${escapeXml(bar.baselineLabel)} ${Math.round(bar.baseline)}</text>`,
    ].join('\n  ');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
  <rect width="100%" height="100%" fill="white"/>
  <text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>
  <rect x="${left}" y="30" width="10" height="8" fill="#2b7bb9"/><text x="${left + 14}" y="38">scenario</text>
  <rect x="${left + 80}" y="30" width="10" height="8" fill="#b0b0b0"/><text x="${left + 94}" y="38">baseline</text>
  ${rows.join('\n  ')}
</svg>
`;
}
