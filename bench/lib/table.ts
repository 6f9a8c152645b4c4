/** A plain-text table: a title, column headers, rows of cells, and notes printed under it. */
export interface Table {
  title: string;
  columns: Array<{ header: string; align?: 'left' | 'right' }>;
  rows: string[][];
  notes?: string[];
}

/** Renders a table with aligned columns (numbers right-aligned by default, the first column left). */
export function renderTable(table: Table): string {
  const widths = table.columns.map((column, i) => Math.max(column.header.length, ...table.rows.map((row) => (row[i] ?? '').length)));
  const align = (text: string, i: number) => {
    const left = (table.columns[i]!.align ?? (i === 0 ? 'left' : 'right')) === 'left';
    return left ? text.padEnd(widths[i]!) : text.padStart(widths[i]!);
  };
  const line = (cells: string[]) => cells.map((cell, i) => align(cell, i)).join('  ').trimEnd();
  const out = [table.title, line(table.columns.map((column) => column.header)), widths.map((width) => '-'.repeat(width)).join('  ')];
  for (const row of table.rows) out.push(line(row));
  for (const note of table.notes ?? []) out.push(`  ${note}`);
  return out.join('\n');
}

/** The same table as GitHub markdown, for docs. */
export function renderMarkdown(table: Table): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  const out = [
    `| ${table.columns.map((column) => escape(column.header)).join(' | ')} |`,
    `| ${table.columns.map((column, i) => ((column.align ?? (i === 0 ? 'left' : 'right')) === 'left' ? ':--' : '--:')).join(' | ')} |`,
  ];
  for (const row of table.rows) out.push(`| ${row.map(escape).join(' | ')} |`);
  return out.join('\n');
}
