import { parse } from 'csv-parse/sync';

/** One CSV record and the line it starts on (for messages that point at the file). */
export interface CsvRow {
  record: string[];
  line: number;
}

/**
 * Reads a small CSV file a person wrote (a manifest, a labels file): RFC 4180 through csv-parse,
 * quoted and multi-line cells, a UTF-8 BOM, mixed CRLF/LF line ends, rows of any length.
 * Throws `error(message)` when the text is not CSV at all.
 */
export function readCsvRows(text: string, error: (message: string) => Error): CsvRow[] {
  try {
    // With `info`, csv-parse returns { record, info } per row; its types do not model that option.
    const rows = parse(text, {
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
      // Files edited on several machines mix CRLF and LF; csv-parse otherwise keeps the first it sees.
      record_delimiter: ['\r\n', '\n'],
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
    // info.lines is the line a record ends on; count back the newlines inside its cells.
    return rows.map(({ record, info }) => ({
      record,
      line: info.lines - record.join(',').split('\n').length + 1,
    }));
  } catch (cause) {
    throw error(`not valid CSV: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
