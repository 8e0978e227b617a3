"""Every file reader (and the on-disk indexes behind the large ones): bad input is a `DataError` naming the
file and line.

- `tables`: csv / tsv / jsonl / parquet rows, with the bad-row policy (`data.on_bad_row`);
- `pairs`: pair rows (question pairs, anchor/positive, sentence1/sentence2/label) in any of those;
- `trec`: qrels, TREC runs and candidate lists;
- `corpus`: corpora and query files as (id, text) streams, and their fingerprints;
- `indexed`: line and key indexes over large text files, cached on disk, read with `pread`.
"""
