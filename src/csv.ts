// CSV as RFC 4180 has it, which is what spreadsheets export: records separated by CRLF (or LF), fields by commas,
// quoted fields that may hold commas, line breaks and doubled quotes (""). A UTF-8 byte order mark is skipped.
// Small enough to write here rather than add a dependency; the import job and the CLI share it.

export class CsvError extends Error {
  constructor(
    readonly row: number,
    message: string,
  ) {
    super(`row ${row}: ${message}`);
  }
}

/** The records of a CSV text, each with its row number (the header is row 1, as a spreadsheet counts). */
export function parseCsv(text: string): { row: number; fields: string[] }[] {
  const records: { row: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endField = () => {
    fields.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push({ row: records.length + 1, fields });
    fields = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' && field === '') {
      // a quoted field: up to the quote that is not doubled
      const start = i;
      i++;
      for (;;) {
        if (i >= text.length)
          throw new CsvError(records.length + 1, `the quote opened at offset ${start} is not closed`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i];
        i++;
      }
      const after = text[i];
      if (after !== undefined && after !== ',' && after !== '\n' && after !== '\r')
        throw new CsvError(records.length + 1, 'a quoted field must end at a comma or the end of the line');
      continue;
    }
    if (c === ',') {
      endField();
      i++;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  // the last record, unless the text ended with its line break
  if (field !== '' || fields.length > 0) endRecord();
  return records;
}

/** A CSV line of `fields`, quoting those that need it. */
export function csvLine(fields: readonly (string | number)[]): string {
  return fields
    .map((f) => {
      const text = String(f);
      return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    })
    .join(',');
}
