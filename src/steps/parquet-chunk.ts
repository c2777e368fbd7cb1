/**
 * One uncompressed column chunk as stepfit's typed-array Parquet writers lay it out (the step writer,
 * parquet-step-group.ts, and the feature table writer, parquet-features.ts): an optional PLAIN dictionary
 * page, then one DATA_PAGE_V2 holding the repetition levels, the definition levels and the values.
 * Headers are written by hyparquet-writer's `writePageHeader`; the footer's column metadata is returned.
 */
import type { ParquetWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';

type Writer = ParquetWriter['writer'];
export type ColumnChunk = ParquetWriter['row_groups'][number]['columns'][number];

/** A DATA_PAGE_V2's parts: level streams (empty when the column has none) and the encoded values. */
export interface PageV2 {
  rep: Uint8Array;
  def: Uint8Array;
  data: Uint8Array;
  /** Level entries (= rows for a flat column). */
  values: number;
  nulls: number;
  rows: number;
  /** RLE_DICTIONARY exactly when a dictionary page comes with it. */
  encoding: 'PLAIN' | 'RLE_DICTIONARY';
}

/** An empty level stream. */
export const NO_LEVELS = new Uint8Array(0);

/**
 * Write the chunk at the writer's offset. `statistics` go into the metadata when given; `encodingStats` adds the
 * pages' encoding statistics (the step writer records them, as hyparquet-writer did; the feature writer does not).
 */
export function writeColumnChunk(
  w: Writer,
  path: string[],
  type: string,
  page: PageV2,
  dict: { data: Uint8Array; count: number } | null,
  statistics?: Record<string, unknown>,
  encodingStats = false,
): ColumnChunk {
  const start = w.offset;
  let dictionary_page_offset: bigint | undefined;
  if (dict) {
    dictionary_page_offset = BigInt(start);
    const size = dict.data.length;
    writePageHeader(w, { type: 'DICTIONARY_PAGE', uncompressed_page_size: size, compressed_page_size: size, dictionary_page_header: { num_values: dict.count, encoding: 'PLAIN' } });
    w.appendBytes(dict.data);
  }
  const data_page_offset = BigInt(w.offset);
  const size = page.rep.length + page.def.length + page.data.length;
  writePageHeader(w, {
    type: 'DATA_PAGE_V2',
    uncompressed_page_size: size,
    compressed_page_size: size,
    data_page_header_v2: {
      num_values: page.values,
      num_nulls: page.nulls,
      num_rows: page.rows,
      encoding: page.encoding,
      definition_levels_byte_length: page.def.length,
      repetition_levels_byte_length: page.rep.length,
      is_compressed: false,
    },
  });
  w.appendBytes(page.rep);
  w.appendBytes(page.def);
  w.appendBytes(page.data);
  const bytes = BigInt(w.offset - start);
  return {
    file_offset: BigInt(start),
    meta_data: {
      type,
      encodings: dict ? ['PLAIN', page.encoding] : [page.encoding],
      path_in_schema: path,
      codec: 'UNCOMPRESSED',
      num_values: BigInt(page.values),
      total_uncompressed_size: bytes,
      total_compressed_size: bytes,
      data_page_offset,
      ...(dictionary_page_offset !== undefined ? { dictionary_page_offset } : {}),
      ...(statistics !== undefined ? { statistics } : {}),
      ...(encodingStats
        ? { encoding_stats: [...(dict ? [{ page_type: 'DICTIONARY_PAGE', encoding: 'PLAIN', count: 1 }] : []), { page_type: 'DATA_PAGE_V2', encoding: page.encoding, count: 1 }] }
        : {}),
    },
  } as ColumnChunk;
}
