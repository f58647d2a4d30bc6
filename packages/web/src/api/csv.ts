// A small RFC 4180 reader for the import preview only: the server parses the file again and is
// the judge of what is valid. Records carry the file line they start on, as the server reports.

interface CsvRecord {
  /** 1-based line of the file where this record starts. */
  line: number;
  cells: string[];
}

export function parseCsvPreview(text: string): { header: string[]; records: CsvRecord[] } {
  const src = text.replace(/^\uFEFF/, '');
  const all: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = '';
  let inQuotes = false;
  let line = 1;
  let startLine = 1;
  let sawAny = false;
  const endRecord = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '')) all.push({ line: startLine, cells: cells.map((c) => c.trim()) });
    cells = [];
    cell = '';
    sawAny = false;
  };
  for (let i = 0; i < src.length; i++) {
    const ch = src[i] as string;
    if (inQuotes) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          cell += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (!sawAny) {
      startLine = line;
      sawAny = true;
    }
    if (ch === '"') inQuotes = true;
    else if (ch === ',') cells.push(cell), (cell = '');
    else if (ch === '\r') continue;
    else if (ch === '\n') {
      endRecord();
      line++;
    } else cell += ch;
  }
  if (sawAny || cell !== '' || cells.length > 0) endRecord();
  const [head, ...records] = all;
  return { header: head?.cells ?? [], records };
}
