/** Whether a path names a Parquet file (by its extension): its own module so callers can test it without loading the Parquet code. */
export const isParquetPath = (p: string): boolean => /\.parquet$/i.test(p);
